//! Reading the callback URL the provider redirected to: query or fragment parameters (the query
//! wins), the provider's error response, `code`, `state` and RFC 9207's `iss`. This module only
//! parses; checking state, issuer and redirect URI against the pending sign-in is
//! [`crate::oidc`]'s job.

use std::collections::HashMap;

use url::Url;

use crate::error::{CallbackError, Endpoint, Error, ProviderError};
use crate::secret::{AuthorizationCode, CsrfState};

/// The parameters of a callback.
#[derive(Debug, Clone)]
pub(crate) struct CallbackParams {
    /// Where the callback arrived, without query and fragment.
    pub arrived_at: Url,
    /// The authorization code.
    pub code: Option<AuthorizationCode>,
    /// The state.
    pub state: Option<CsrfState>,
    /// RFC 9207 `iss`.
    pub iss: Option<String>,
    /// The provider's error, if it sent one.
    pub error: Option<ProviderError>,
}

fn params_of(part: Option<&str>) -> Result<HashMap<String, String>, CallbackError> {
    let mut map = HashMap::new();
    if let Some(part) = part {
        for (k, v) in url::form_urlencoded::parse(part.as_bytes()) {
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                // RFC 6749 §3.1: parameters must not be included more than once.
                return Err(CallbackError::Malformed(format!(
                    "parameter \"{k}\" appears twice"
                )));
            }
        }
    }
    Ok(map)
}

/// Parses an absolute callback URL.
pub(crate) fn parse(callback_url: &str) -> Result<CallbackParams, Error> {
    let url = Url::parse(callback_url)
        .map_err(|e| CallbackError::Malformed(format!("not an absolute URL: {e}")))?;
    let query = params_of(url.query())?;
    let fragment = params_of(url.fragment())?;
    let get = |name: &str| query.get(name).or_else(|| fragment.get(name)).cloned();

    let state = get("state").filter(|s| !s.is_empty()).map(CsrfState::new);
    let error = get("error").map(|error| ProviderError {
        endpoint: Endpoint::Authorization,
        error,
        description: get("error_description"),
        uri: get("error_uri"),
        state: state.clone(),
        status: None,
    });
    let mut arrived_at = url.clone();
    arrived_at.set_query(None);
    arrived_at.set_fragment(None);
    Ok(CallbackParams {
        arrived_at,
        code: get("code")
            .filter(|c| !c.is_empty())
            .map(AuthorizationCode::new),
        state,
        iss: get("iss"),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_query_parameters() {
        let p = parse("http://127.0.0.1:5000/callback?code=abc&state=xyz&iss=https%3A%2F%2Fidp")
            .unwrap();
        assert_eq!(p.code.unwrap().secret(), "abc");
        assert_eq!(p.state.unwrap().secret(), "xyz");
        assert_eq!(p.iss.as_deref(), Some("https://idp"));
        assert_eq!(p.arrived_at.as_str(), "http://127.0.0.1:5000/callback");
        assert!(p.error.is_none());
    }

    #[test]
    fn falls_back_to_the_fragment_and_prefers_the_query() {
        let p = parse("https://app.example.com/cb#code=frag&state=s").unwrap();
        assert_eq!(p.code.unwrap().secret(), "frag");
        let p = parse("https://app.example.com/cb?code=q#code=frag&state=s").unwrap();
        assert_eq!(p.code.unwrap().secret(), "q");
    }

    #[test]
    fn provider_error_keeps_code_description_and_state() {
        let p = parse("https://app.example.com/cb?error=access_denied&error_description=User%20denied%20access&state=s1").unwrap();
        let e = p.error.unwrap();
        assert_eq!(e.error, "access_denied");
        assert_eq!(e.description.as_deref(), Some("User denied access"));
        assert_eq!(e.state.unwrap().secret(), "s1");
    }

    #[test]
    fn rejects_relative_urls_and_repeated_parameters() {
        assert!(matches!(
            parse("/callback?code=x"),
            Err(Error::Callback(CallbackError::Malformed(_)))
        ));
        assert!(matches!(
            parse("https://a.example/cb?code=x&code=y"),
            Err(Error::Callback(CallbackError::Malformed(_)))
        ));
    }

    #[test]
    fn empty_code_counts_as_missing() {
        let p = parse("https://a.example/cb?code=&state=s").unwrap();
        assert!(p.code.is_none());
    }
}
