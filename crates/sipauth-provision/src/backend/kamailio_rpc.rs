//! [`KamailioRpc`]: tells Kamailio, through its JSON-RPC over HTTP (`jsonrpcs`), that a
//! person's access ended: `ul.rm location <aor>` removes what they have registered, so a phone
//! registered a minute ago stops being reachable at once (a refused REGISTER alone would leave
//! it until its binding expires), and `dlg.end_dlg` ends their calls in progress where the
//! `dialog` module runs. Called after the commit of every change that ended access
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

    /// On every node: removes every contact of `aor` (`user@domain`) from the location table,
    /// and ends every call in progress (a `dialog` module dialog) whose caller or callee is
    /// `aor` (Kamailio sends BYE to both sides). The nodes that could not be told, after the
    /// retries. A node without the `dialog` module has no calls to end.
    pub async fn end_access(&self, aor: &str) -> Vec<String> {
        let mut failed = Vec::new();
        for url in &self.urls {
            let done = match self.call(url, "ul.rm", json!(["location", aor])).await {
                Ok(_) => self.end_calls(url, aor).await,
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                tracing::warn!(node = %url, %aor, error = %e, "ending access at Kamailio failed");
                failed.push(url.to_string());
            }
        }
        failed
    }

    /// On every node: removes the registration of one device of `aor` (digest user
    /// `auth_username`): the contact the routing script remembered for it at its last
    /// REGISTER (`htable` `devices`), from the location table; the others of `aor` stay. The
    /// nodes that could not be told.
    pub async fn end_device(&self, aor: &str, auth_username: &str) -> Vec<String> {
        let mut failed = Vec::new();
        for url in &self.urls {
            let done = async {
                let item = self
                    .call(url, "htable.get", json!(["devices", auth_username]))
                    .await?;
                let contact = item
                    .get("item")
                    .and_then(|i| i.get("value"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if let Some(contact) = contact {
                    self.call(url, "ul.rm_contact", json!(["location", aor, contact]))
                        .await?;
                    self.call(url, "htable.delete", json!(["devices", auth_username]))
                        .await?;
                }
                Ok::<(), String>(())
            }
            .await;
            if let Err(e) = done {
                tracing::warn!(node = %url, %aor, error = %e, "ending a device's registration at Kamailio failed");
                failed.push(url.to_string());
            }
        }
        failed
    }

    /// Ends the dialogs of `aor` at one node (`dlg.list`, then `dlg.end_dlg` for each).
    async fn end_calls(&self, url: &url::Url, aor: &str) -> Result<(), String> {
        let dialogs = self.call(url, "dlg.list", json!([])).await?;
        let party = |uri: Option<&Value>| {
            uri.and_then(Value::as_str)
                .and_then(|u| u.strip_prefix("sip:").or_else(|| u.strip_prefix("sips:")))
                .map(|u| u.split(';').next().unwrap_or(u))
                .is_some_and(|u| u.eq_ignore_ascii_case(aor))
        };
        for d in dialogs.as_array().map(Vec::as_slice).unwrap_or_default() {
            if !(party(d.get("from_uri")) || party(d.get("to_uri"))) {
                continue;
            }
            let (Some(entry), Some(id)) = (d.get("h_entry"), d.get("h_id")) else {
                continue;
            };
            self.call(url, "dlg.end_dlg", json!([entry, id])).await?;
        }
        Ok(())
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
