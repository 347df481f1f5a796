//! [`KamailioRpc`]: tells Kamailio, through its JSON-RPC over HTTP (`jsonrpcs`), that a
//! person's access ended: `ul.rm location <aor>` removes what they have registered, so a phone
//! registered a minute ago stops being reachable at once (a refused REGISTER alone would leave
//! it until its binding expires). Called after the commit of every change that ended access
//! (`Provisioner::finish`). Every configured node is told; a failure is retried (three
//! attempts), then audited and counted, never dropped silently. "Not found" (nothing
//! registered) is success.

use std::time::Duration;

use serde_json::{json, Value};

/// Kamailio's JSON-RPC endpoints (`kamailio_rpc_urls`).
#[derive(Debug, Clone)]
pub struct KamailioRpc {
    urls: Vec<url::Url>,
    http: reqwest::Client,
}

/// Attempts per node and call.
const ATTEMPTS: u32 = 3;

impl KamailioRpc {
    /// A client for these endpoints (`http://127.0.0.1:5060/RPC`, …).
    pub fn new(urls: &[String]) -> Result<Self, String> {
        let urls = urls
            .iter()
            .map(|u| {
                let url = url::Url::parse(u).map_err(|e| format!("kamailio_rpc_url {u}: {e}"))?;
                match url.scheme() {
                    "http" | "https" => Ok(url),
                    other => Err(format!("kamailio_rpc_url {u}: {other} is not http(s)")),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { urls, http })
    }

    /// Removes every contact of `aor` (`user@domain`) from the location table of every node.
    /// The nodes that could not be told, after the retries.
    pub async fn remove_contacts(&self, aor: &str) -> Vec<String> {
        let mut failed = Vec::new();
        for url in &self.urls {
            if let Err(e) = self.call(url, "ul.rm", json!(["location", aor])).await {
                tracing::warn!(node = %url, %aor, error = %e, "removing contacts at Kamailio failed");
                failed.push(url.to_string());
            }
        }
        failed
    }

    async fn call(&self, url: &url::Url, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            let answer = self
                .http
                .post(url.clone())
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let text = answer.text().await.unwrap_or_default();
            let value: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(_) => {
                    last = "the answer is not JSON-RPC".into();
                    continue;
                }
            };
            if let Some(error) = value.get("error") {
                // Nothing registered for the AoR: nothing to remove.
                let message = error.get("message").and_then(Value::as_str).unwrap_or("");
                if error.get("code").and_then(Value::as_i64) == Some(404)
                    || message.contains("not found")
                {
                    return Ok(Value::Null);
                }
                return Err(format!("{method}: {error}"));
            }
            return Ok(value.get("result").cloned().unwrap_or(Value::Null));
        }
        Err(last)
    }
}
