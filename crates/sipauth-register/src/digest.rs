//! HTTP Digest authentication as SIP uses it (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760):
//! reading a `WWW-Authenticate` / `Proxy-Authenticate` challenge and computing the
//! `Authorization` / `Proxy-Authorization` answer, with MD5 or SHA-256 (and their `-sess`
//! forms), `qop=auth` with `cnonce` and `nc`, or the RFC 2069 form when no qop is offered.
//! Nothing here touches the network; known-answer tests pin it to the RFCs' examples.

use md5::Md5;
use sha2::{Digest as _, Sha256};

use crate::error::CheckError;

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (RFC 2617; the default when a challenge names none).
    Md5,
    /// MD5-sess.
    Md5Sess,
    /// SHA-256 (RFC 7616, RFC 8760).
    Sha256,
    /// SHA-256-sess.
    Sha256Sess,
}

impl Algorithm {
    fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "MD5" => Some(Self::Md5),
            "MD5-SESS" => Some(Self::Md5Sess),
            "SHA-256" => Some(Self::Sha256),
            "SHA-256-SESS" => Some(Self::Sha256Sess),
            _ => None,
        }
    }

    /// The name as it goes on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Self::Md5 | Self::Md5Sess => hex(&Md5::digest(data.as_bytes())),
            Self::Sha256 | Self::Sha256Sess => hex(&Sha256::digest(data.as_bytes())),
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }

    /// Preference when a server offers several challenges (RFC 8760 §2.4: the strongest).
    fn strength(self) -> u8 {
        match self {
            Self::Sha256 | Self::Sha256Sess => 2,
            Self::Md5 | Self::Md5Sess => 1,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A parsed `Digest` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The realm.
    pub realm: String,
    /// The server's nonce.
    pub nonce: String,
    /// Returned unchanged, when present.
    pub opaque: Option<String>,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Whether `qop=auth` was offered (else the RFC 2069 form is used).
    pub qop_auth: bool,
}

/// Splits `k=v, k="v, with comma"` parameters, unquoting values.
fn params(text: &str) -> Result<Vec<(String, String)>, CheckError> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| CheckError::protocol("a challenge parameter has no value"))?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end =
                end.ok_or_else(|| CheckError::protocol("a challenge has an unterminated quote"))?;
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.push((key, value));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    Ok(out)
}

impl Challenge {
    /// Parses one header value (`Digest realm="...", nonce="...", ...`). Other schemes,
    /// missing realm or nonce, and unknown algorithms are errors.
    pub fn parse(value: &str) -> Result<Self, CheckError> {
        let (scheme, rest) = value
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(CheckError::protocol(format!(
                "the server asks for {scheme} authentication, not Digest"
            )));
        }
        let mut realm = None;
        let mut nonce = None;
        let mut opaque = None;
        let mut algorithm = Algorithm::Md5;
        let mut qop_auth = false;
        for (k, v) in params(rest)? {
            match k.as_str() {
                "realm" => realm = Some(v),
                "nonce" => nonce = Some(v),
                "opaque" => opaque = Some(v),
                "algorithm" => {
                    algorithm = Algorithm::parse(&v).ok_or_else(|| {
                        CheckError::protocol(format!("unsupported digest algorithm {v}"))
                    })?
                }
                "qop" => qop_auth = v.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth")),
                _ => {}
            }
        }
        Ok(Self {
            realm: realm.ok_or_else(|| CheckError::protocol("the challenge has no realm"))?,
            nonce: nonce.ok_or_else(|| CheckError::protocol("the challenge has no nonce"))?,
            opaque,
            algorithm,
            qop_auth,
        })
    }

    /// The strongest usable challenge among several header values (RFC 8760 §2.4).
    pub fn best<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Self, CheckError> {
        let mut best: Option<Challenge> = None;
        let mut last_error = None;
        for value in values {
            match Self::parse(value) {
                Ok(c)
                    if best
                        .as_ref()
                        .is_none_or(|b| c.algorithm.strength() > b.algorithm.strength()) =>
                {
                    best = Some(c)
                }
                Ok(_) => {}
                Err(e) => last_error = Some(e),
            }
        }
        best.ok_or_else(|| {
            last_error.unwrap_or_else(|| CheckError::protocol("the server sent no challenge"))
        })
    }
}

/// The answer to a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The `response` value.
    pub response: String,
    /// The whole header value (`Digest username="...", ...`).
    pub header: String,
}

fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Answers `challenge` for `method uri` as `username` with `password`. `cnonce` and `nc` are
/// the caller's (a fresh random cnonce per challenge; nc counts uses of one nonce).
pub fn answer(
    challenge: &Challenge,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Answer {
    let alg = challenge.algorithm;
    let mut ha1 = alg.hash(&format!("{username}:{}:{password}", challenge.realm));
    if alg.is_sess() {
        ha1 = alg.hash(&format!("{ha1}:{}:{cnonce}", challenge.nonce));
    }
    let ha2 = alg.hash(&format!("{method}:{uri}"));
    let nc = format!("{nc:08x}");
    let response = if challenge.qop_auth {
        alg.hash(&format!(
            "{ha1}:{}:{nc}:{cnonce}:auth:{ha2}",
            challenge.nonce
        ))
    } else {
        alg.hash(&format!("{ha1}:{}:{ha2}", challenge.nonce))
    };
    let mut header = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
        quote(username),
        quote(&challenge.realm),
        quote(&challenge.nonce),
        quote(uri),
        quote(&response),
        alg.name()
    );
    if challenge.qop_auth {
        header.push_str(&format!(", qop=auth, nc={nc}, cnonce={}", quote(cnonce)));
    }
    if let Some(opaque) = &challenge.opaque {
        header.push_str(&format!(", opaque={}", quote(opaque)));
    }
    Answer { response, header }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_md5_known_answer() {
        // RFC 2617 §3.5.
        let c = Challenge::parse(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        assert!(c.qop_auth);
        assert_eq!(c.algorithm, Algorithm::Md5);
        let a = answer(
            &c,
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle Of Life",
            "0a4f113b",
            1,
        );
        assert_eq!(a.response, "6629fae49393a05397450978507c4ef1");
        assert!(a.header.contains("nc=00000001"));
        assert!(a
            .header
            .contains(r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#));
    }

    #[test]
    fn rfc7616_sha256_and_md5_known_answers() {
        // RFC 7616 §3.9.1.
        let header = |alg: &str| {
            format!(
                r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
            )
        };
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let sha = Challenge::parse(&header("SHA-256")).unwrap();
        let a = answer(
            &sha,
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle of Life",
            cnonce,
            1,
        );
        assert_eq!(
            a.response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        let md5 = Challenge::parse(&header("MD5")).unwrap();
        let b = answer(
            &md5,
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle of Life",
            cnonce,
            1,
        );
        assert_eq!(b.response, "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc2069_form_without_qop() {
        // RFC 2069 §2.4's example: no qop, response = H(HA1:nonce:HA2).
        let c = Challenge::parse(
            r#"Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093""#,
        )
        .unwrap();
        let a = answer(
            &c,
            "GET",
            "/dir/index.html",
            "Mufasa",
            "CircleOfLife",
            "unused",
            1,
        );
        assert_eq!(a.response, "1949323746fe6a43ef61f9606e7febea");
        assert!(!a.header.contains("qop"));
    }

    #[test]
    fn prefers_sha256_when_offered_with_md5() {
        let md5 = r#"Digest realm="r", nonce="n1", algorithm=MD5"#;
        let sha = r#"Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth""#;
        assert_eq!(
            Challenge::best([md5, sha]).unwrap().algorithm,
            Algorithm::Sha256
        );
        assert_eq!(Challenge::best([sha, md5]).unwrap().nonce, "n2");
    }

    #[test]
    fn rejects_malformed_or_foreign_challenges() {
        for bad in [
            "Basic realm=\"x\"",
            "Digest nonce=\"n\"",
            "Digest realm=\"r\"",
            "Digest realm=\"unterminated, nonce=\"n\"",
            "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256",
            "Digest realm",
            "",
        ] {
            assert!(Challenge::parse(bad).is_err(), "{bad}");
        }
        assert!(Challenge::best(std::iter::empty()).is_err());
    }

    #[test]
    fn quotes_in_values_are_escaped_and_unescaped() {
        let c = Challenge::parse(r#"Digest realm="a \"b\"", nonce="n""#).unwrap();
        assert_eq!(c.realm, "a \"b\"");
        let a = answer(&c, "REGISTER", "sip:x", "u\"", "p", "c", 1);
        assert!(a.header.contains(r#"username="u\"""#));
    }
}
