//! Plays the user's browser against oidc-provider's development interactions, over plain HTTP with
//! a cookie jar and no automatic redirects: follow the authorization URL, fill the login form
//! (any login; it becomes `sub`), approve the consent form, and stop at the redirect to the
//! client. Also approves device codes (RFC 8628) through the provider's device pages.

use url::Url;

/// What went wrong while playing the browser.
pub type BrowserError = String;

/// A browser with its own cookie jar (one per simulated user).
pub struct Browser {
    http: reqwest::Client,
}

fn attr<'a>(html: &'a str, after: &str, name: &str) -> Option<&'a str> {
    let from = html.find(after)?;
    let rest = &html[from..];
    let key = format!("{name}=\"");
    let start = rest.find(&key)? + key.len();
    let end = rest[start..].find('"')? + start;
    Some(&rest[start..end])
}

impl Browser {
    pub fn new() -> Result<Self, BrowserError> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { http })
    }

    /// Follows `authorization_url` through login and consent as `login`, and returns the URL the
    /// provider finally redirects to (starting with `redirect_prefix`), without requesting it.
    pub async fn sign_in(
        &self,
        authorization_url: &str,
        login: &str,
        redirect_prefix: &str,
    ) -> Result<String, BrowserError> {
        self.follow(authorization_url, login, redirect_prefix).await
    }

    async fn follow(
        &self,
        start: &str,
        login: &str,
        redirect_prefix: &str,
    ) -> Result<String, BrowserError> {
        let mut url = Url::parse(start).map_err(|e| e.to_string())?;
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..20 {
            let request = match form.take() {
                Some(fields) => self.http.post(url.clone()).form(&fields),
                None => self.http.get(url.clone()),
            };
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or("redirect without Location")?;
                let next = url.join(location).map_err(|e| e.to_string())?;
                if next.as_str().starts_with(redirect_prefix) {
                    return Ok(next.to_string());
                }
                url = next;
                continue;
            }
            let html = response.text().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!(
                    "{status} at {url}: {}",
                    html.chars().take(400).collect::<String>()
                ));
            }
            let action =
                attr(&html, "<form", "action").ok_or_else(|| format!("no form at {url}"))?;
            let prompt = attr(&html, "name=\"prompt\"", "value").unwrap_or("");
            url = url.join(action).map_err(|e| e.to_string())?;
            form = Some(match prompt {
                "login" => vec![
                    ("prompt".into(), "login".into()),
                    ("login".into(), login.into()),
                    ("password".into(), "any".into()),
                ],
                "consent" => vec![("prompt".into(), "consent".into())],
                other => return Err(format!("unexpected interaction {other:?} at {url}")),
            });
        }
        Err("too many steps without reaching the redirect URI".into())
    }

    /// Ends this browser's session at the provider (RP-initiated logout at `end_session_url`,
    /// confirmed on the provider's page): the provider then tells its clients (back-channel
    /// logout) before it answers. Returns the status of the confirmation's answer.
    pub async fn end_session(&self, end_session_url: &str) -> Result<u16, BrowserError> {
        let url = Url::parse(end_session_url).map_err(|e| e.to_string())?;
        let page = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let action = attr(&page, "<form", "action").ok_or("no logout form")?;
        let xsrf = attr(&page, "name=\"xsrf\"", "value").ok_or("no xsrf field")?;
        let answer = self
            .http
            .post(url.join(action).map_err(|e| e.to_string())?)
            .form(&[("xsrf", xsrf), ("logout", "yes")])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok(answer.status().as_u16())
    }

    /// Approves a device code's `user_code` as `login` (RFC 8628, oidc-provider's device pages).
    pub async fn approve_device(
        &self,
        issuer: &str,
        user_code: &str,
        login: &str,
    ) -> Result<(), BrowserError> {
        let device = format!("{}/device", issuer.trim_end_matches('/'));
        let page = self
            .http
            .get(&device)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let html = page.text().await.map_err(|e| e.to_string())?;
        let xsrf = attr(&html, "name=\"xsrf\"", "value")
            .ok_or("no xsrf on the device page")?
            .to_string();
        let confirm = self
            .http
            .post(&device)
            .form(&[("xsrf", xsrf.as_str()), ("user_code", user_code)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let html = confirm.text().await.map_err(|e| e.to_string())?;
        let xsrf = attr(&html, "name=\"xsrf\"", "value")
            .ok_or("no xsrf on the confirm page")?
            .to_string();
        let response = self
            .http
            .post(&device)
            .form(&[
                ("xsrf", xsrf.as_str()),
                ("user_code", user_code),
                ("confirm", "yes"),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or("device confirmation did not redirect to login")?;
        let start = Url::parse(&device)
            .and_then(|d| d.join(location))
            .map_err(|e| e.to_string())?;
        // The interactions end at the device success page, not at a client redirect.
        match self.follow(start.as_str(), login, "urn:never").await {
            Err(e) if e.starts_with("no form") => Ok(()),
            Err(e) => Err(e),
            Ok(_) => Ok(()),
        }
    }
}

/// Replaces (or adds) one query parameter of a URL.
pub fn with_query_param(url: &str, name: &str, value: &str) -> String {
    let Ok(mut parsed) = Url::parse(url) else {
        return url.to_string();
    };
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = parsed.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        q.append_pair(name, value);
    }
    parsed.to_string()
}

/// One query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
