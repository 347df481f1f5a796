//! SIP messages, as much as a REGISTER probe needs (RFC 3261 §7, §10, §20): building a REGISTER
//! and reading a response with every limit explicit — at most [`MAX_MESSAGE`] bytes, header
//! lines of at most [`MAX_HEADER_LINE`] bytes, [`MAX_HEADERS`] headers, a status line that says
//! `SIP/2.0 NNN`. Compact header names (`v`, `i`, `l`, ...) are expanded. Anything else is a
//! [`CheckError::Protocol`], never a panic.

use crate::error::CheckError;

/// The largest response read.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The longest header line.
pub const MAX_HEADER_LINE: usize = 8 * 1024;
/// The most headers read.
pub const MAX_HEADERS: usize = 128;

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase, as the server wrote it.
    pub reason: String,
    /// Headers in order: lowercase full names, values trimmed.
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// Every value of header `name` (lowercase full name).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `CSeq` number.
    pub fn cseq(&self) -> Option<u32> {
        self.get("cseq")?.split_whitespace().next()?.parse().ok()
    }
}

fn full_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "v" => "via",
        "i" => "call-id",
        "l" => "content-length",
        "f" => "from",
        "t" => "to",
        "m" => "contact",
        "c" => "content-type",
        "k" => "supported",
        _ => return lower,
    }
    .to_string()
}

/// Where the head of a message ends (after the blank line), if it has arrived.
pub fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// Parses a response head (status line and headers, up to and including the blank line).
/// Bodies are not needed: a probe reads only `Content-Length` to skip one.
pub fn parse_response(head: &[u8]) -> Result<Response, CheckError> {
    if head.len() > MAX_MESSAGE {
        return Err(CheckError::protocol("the response is larger than 64 KiB"));
    }
    let text = std::str::from_utf8(head)
        .map_err(|_| CheckError::protocol("the response head is not UTF-8 text"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code, reason) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
    if version != Some("SIP/2.0") {
        return Err(CheckError::protocol(format!(
            "not a SIP/2.0 response: {}",
            printable(status_line)
        )));
    }
    let status = code
        .filter(|c| c.len() == 3)
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (100..700).contains(c))
        .ok_or_else(|| {
            CheckError::protocol(format!("bad status line: {}", printable(status_line)))
        })?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.len() > MAX_HEADER_LINE {
            return Err(CheckError::protocol(
                "a response header is longer than 8 KiB",
            ));
        }
        // Folded continuation lines (RFC 3261 §7.3.1) join the previous header.
        if line.starts_with([' ', '\t']) {
            match headers.last_mut() {
                Some((_, v)) => {
                    v.push(' ');
                    v.push_str(line.trim());
                    continue;
                }
                None => return Err(CheckError::protocol("a response starts with a folded line")),
            }
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            CheckError::protocol(format!("a header without a colon: {}", printable(line)))
        })?;
        if headers.len() >= MAX_HEADERS {
            return Err(CheckError::protocol(
                "the response has more than 128 headers",
            ));
        }
        headers.push((full_name(name.trim()), value.trim().to_string()));
    }
    Ok(Response {
        status,
        reason: printable(reason),
        headers,
    })
}

/// Text from the server, with control characters replaced, at most 200 characters.
pub fn printable(text: &str) -> String {
    text.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// What a REGISTER says.
#[derive(Debug, Clone)]
pub struct Register<'a> {
    /// The registrar's URI (`sip:domain`).
    pub request_uri: &'a str,
    /// The address of record (`sip:user@domain`).
    pub aor: &'a str,
    /// The Contact URI.
    pub contact: &'a str,
    /// `SIP/2.0/UDP host:port` and the like.
    pub via: &'a str,
    /// The branch (starts with `z9hG4bK`).
    pub branch: &'a str,
    /// The From tag.
    pub tag: &'a str,
    /// The Call-ID (one per check).
    pub call_id: &'a str,
    /// The CSeq number (one more per request).
    pub cseq: u32,
    /// Seconds (0 unregisters).
    pub expires: u32,
    /// An `Authorization` or `Proxy-Authorization` header, for the answer to a challenge.
    pub authorization: Option<(&'a str, &'a str)>,
}

impl Register<'_> {
    /// The message on the wire.
    pub fn to_wire(&self) -> String {
        let mut m = format!(
            "REGISTER {} SIP/2.0\r\nVia: {};branch={};rport\r\nMax-Forwards: 70\r\nFrom: <{}>;tag={}\r\nTo: <{}>\r\nCall-ID: {}\r\nCSeq: {} REGISTER\r\nContact: <{}>;expires={}\r\nExpires: {}\r\nUser-Agent: sipauth-register-check/{}\r\n",
            self.request_uri,
            self.via,
            self.branch,
            self.aor,
            self.tag,
            self.aor,
            self.call_id,
            self.cseq,
            self.contact,
            self.expires,
            self.expires,
            env!("CARGO_PKG_VERSION"),
        );
        if let Some((name, value)) = self.authorization {
            m.push_str(&format!("{name}: {value}\r\n"));
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_challenge_with_compact_and_folded_headers() {
        let head = b"SIP/2.0 401 Unauthorized\r\nv: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nCSeq: 1 REGISTER\r\nWWW-Authenticate: Digest realm=\"sip.example.com\",\r\n nonce=\"abc\"\r\nl: 0\r\n\r\n";
        let r = parse_response(head).unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.reason, "Unauthorized");
        assert_eq!(r.cseq(), Some(1));
        assert!(r.get("via").is_some());
        assert_eq!(r.get("content-length"), Some("0"));
        assert_eq!(
            r.get("www-authenticate"),
            Some("Digest realm=\"sip.example.com\", nonce=\"abc\"")
        );
    }

    #[test]
    fn rejects_garbage_and_oversized_responses() {
        let long_header = format!("SIP/2.0 200 OK\r\nX: {}\r\n\r\n", "a".repeat(9000));
        let many = format!("SIP/2.0 200 OK\r\n{}\r\n", "X: 1\r\n".repeat(200));
        for bad in [
            b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
            b"SIP/2.0 2000 OK\r\n\r\n".to_vec(),
            b"SIP/2.0 abc OK\r\n\r\n".to_vec(),
            b"SIP/2.0 200 OK\r\nno colon here\r\n\r\n".to_vec(),
            b"SIP/2.0 200 OK\r\n folded first\r\n\r\n".to_vec(),
            vec![0xff, 0xfe, 0x00],
            long_header.into_bytes(),
            many.into_bytes(),
            vec![b'a'; MAX_MESSAGE + 1],
        ] {
            assert!(
                parse_response(&bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(&bad[..bad.len().min(40)])
            );
        }
    }

    #[test]
    fn the_reason_phrase_is_made_printable() {
        let r = parse_response(b"SIP/2.0 403 Forbidden\x1b[31m\r\n\r\n").unwrap();
        assert_eq!(r.reason, "Forbidden?[31m");
    }

    #[test]
    fn a_register_carries_what_rfc3261_requires() {
        let m = Register {
            request_uri: "sip:sip.example.com",
            aor: "sip:alice@sip.example.com",
            contact: "sip:alice@127.0.0.1:5070;transport=udp",
            via: "SIP/2.0/UDP 127.0.0.1:5070",
            branch: "z9hG4bKabc",
            tag: "t1",
            call_id: "c1",
            cseq: 2,
            expires: 0,
            authorization: Some(("Authorization", "Digest x")),
        }
        .to_wire();
        assert!(m.starts_with("REGISTER sip:sip.example.com SIP/2.0\r\n"));
        for h in [
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport",
            "CSeq: 2 REGISTER",
            "Expires: 0",
            "Authorization: Digest x",
            "Max-Forwards: 70",
        ] {
            assert!(m.contains(h), "{h}");
        }
        assert!(m.ends_with("Content-Length: 0\r\n\r\n"));
    }
}
