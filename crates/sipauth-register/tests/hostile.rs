//! A REGISTER probe against SIP servers that misbehave, played by loopback sockets of our own:
//! garbage, endless headers, silence, a challenge without a nonce, a refusal. Every case ends
//! with a typed answer, in bounded time and memory, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use sipauth::SipPassword;
use sipauth_register::{check, CheckError, CheckOptions, Credentials, Outcome, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

fn alice() -> Credentials {
    Credentials {
        username: "alice".into(),
        domain: "sip.test".into(),
        authorization_username: None,
        password: SipPassword::new("secret".to_string()),
    }
}

fn quick() -> CheckOptions {
    CheckOptions {
        timeout: Duration::from_secs(2),
        ..CheckOptions::default()
    }
}

/// A UDP "server" answering every datagram with `answer(request)`.
async fn udp_server(answer: fn(&str) -> Option<Vec<u8>>) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            if let Some(reply) = answer(&request) {
                let _ = socket.send_to(&reply, from).await;
            }
        }
    });
    addr
}

/// The headers a reply must echo for the probe to take it as the answer.
fn echo(request: &str, status: &str, extra: &str) -> Vec<u8> {
    let cseq = request
        .lines()
        .find(|l| l.starts_with("CSeq:"))
        .unwrap_or("CSeq: 1 REGISTER");
    format!("SIP/2.0 {status}\r\n{cseq}\r\n{extra}Content-Length: 0\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn a_refusal_is_an_outcome_with_the_servers_reason() {
    let addr = udp_server(|r| Some(echo(r, "403 Go Away", ""))).await;
    let mut steps = Vec::new();
    let outcome = check(&Target::Udp(addr), &alice(), &quick(), &mut |s| {
        steps.push(s)
    })
    .await
    .unwrap();
    assert_eq!(
        outcome,
        Outcome::Refused {
            status: 403,
            reason: "Go Away".into()
        }
    );
}

#[tokio::test]
async fn a_challenge_is_answered_once_and_a_second_401_is_a_refusal() {
    let addr = udp_server(|r| {
        Some(echo(
            r,
            "401 Unauthorized",
            "WWW-Authenticate: Digest realm=\"sip.test\", nonce=\"n\", qop=\"auth\"\r\n",
        ))
    })
    .await;
    let mut steps = Vec::new();
    let outcome = check(&Target::Udp(addr), &alice(), &quick(), &mut |s| {
        steps.push(s)
    })
    .await
    .unwrap();
    assert!(
        matches!(outcome, Outcome::Refused { status: 401, .. }),
        "{outcome:?}"
    );
    assert_eq!(
        steps.len(),
        3,
        "connected, challenged once, answered: {steps:?}"
    );
}

#[tokio::test]
async fn rejects_garbage_and_challenges_without_a_nonce() {
    let garbage = udp_server(|_| Some(b"\x00\xffHELLO\r\n\r\n".to_vec())).await;
    let e = check(&Target::Udp(garbage), &alice(), &quick(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, CheckError::Protocol(_)), "{e}");
    let no_nonce = udp_server(|r| {
        Some(echo(
            r,
            "401 Unauthorized",
            "WWW-Authenticate: Digest realm=\"x\"\r\n",
        ))
    })
    .await;
    let e = check(&Target::Udp(no_nonce), &alice(), &quick(), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(e.code().as_str(), "protocol_error", "{e}");
}

#[tokio::test]
async fn rejects_a_silent_server_with_a_timeout() {
    let silent = udp_server(|_| None).await;
    let started = sipauth::monotonic_now();
    let e = check(&Target::Udp(silent), &alice(), &quick(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, CheckError::Timeout(_)), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn rejects_endless_headers_over_tcp_without_reading_them_all() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(b"SIP/2.0 200 OK\r\nX: ").await;
                // Header bytes for ever, never a blank line.
                let chunk = vec![b'a'; 16 * 1024];
                while stream.write_all(&chunk).await.is_ok() {}
            });
        }
    });
    let e = check(&Target::Tcp(addr), &alice(), &quick(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, CheckError::Protocol(_)), "{e}");
}

#[tokio::test]
async fn rejects_an_unreachable_server_as_unreachable() {
    // A port nobody listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = check(
        &Target::Tcp(format!("127.0.0.1:{port}")),
        &alice(),
        &quick(),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(e, CheckError::Unreachable(_)), "{e}");
    let ws = Target::WebSocket(format!("ws://127.0.0.1:{port}/").parse().unwrap());
    let e = check(&ws, &alice(), &quick(), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(e.code().as_str(), "unreachable", "{e}");
}
