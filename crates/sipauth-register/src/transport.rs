//! One connection to a SIP server: UDP (retransmitted on RFC 3261's timer A), TCP, TLS
//! (rustls, the web PKI's roots), and SIP over WebSocket (RFC 7118, subprotocol `sip`, over TCP
//! or TLS). Reads are bounded ([`crate::message::MAX_MESSAGE`]) and every wait ends at the
//! check's deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::error::CheckError;
use crate::message::{head_end, parse_response, Response, MAX_MESSAGE};

/// How to reach the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `ws://` or `wss://` URI.
    WebSocket(url::Url),
    /// `host:port` over UDP.
    Udp(String),
    /// `host:port` over TCP.
    Tcp(String),
    /// `host:port` over TLS.
    Tls(String),
}

impl Target {
    /// The Via transport token.
    pub fn via_transport(&self) -> &'static str {
        match self {
            Target::WebSocket(u) if u.scheme() == "wss" => "WSS",
            Target::WebSocket(_) => "WS",
            Target::Udp(_) => "UDP",
            Target::Tcp(_) => "TCP",
            Target::Tls(_) => "TLS",
        }
    }

    /// The Contact's `transport=` parameter.
    pub fn uri_transport(&self) -> &'static str {
        match self {
            Target::WebSocket(_) => "ws",
            Target::Udp(_) => "udp",
            Target::Tcp(_) => "tcp",
            Target::Tls(_) => "tls",
        }
    }

    /// What the reports call it.
    pub fn describe(&self) -> String {
        match self {
            Target::WebSocket(u) => u.to_string(),
            Target::Udp(a) => format!("{a} over UDP"),
            Target::Tcp(a) => format!("{a} over TCP"),
            Target::Tls(a) => format!("{a} over TLS"),
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

enum Link {
    Udp {
        socket: UdpSocket,
    },
    Stream {
        io: Box<dyn Stream>,
        buffer: Vec<u8>,
    },
    Ws {
        ws: Box<WebSocketStream<Box<dyn Stream>>>,
    },
}

/// An open connection.
pub struct Connection {
    link: Link,
    /// Our address as the server sees the socket (WebSocket: a `.invalid` host, RFC 7118).
    pub local: String,
    last_sent: Option<String>,
}

fn unreachable(what: impl std::fmt::Display) -> CheckError {
    CheckError::Unreachable(what.to_string())
}

async fn resolve(host_port: &str) -> Result<SocketAddr, CheckError> {
    tokio::net::lookup_host(host_port)
        .await
        .map_err(|e| unreachable(format!("{host_port}: {e}")))?
        .next()
        .ok_or_else(|| unreachable(format!("{host_port}: no address")))
}

fn host_of(host_port: &str) -> &str {
    match host_port.rsplit_once(':') {
        Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => host_port,
    }
}

/// The most certificate authorities a PEM file may add (a CA bundle has a few hundred).
const MAX_EXTRA_ROOTS: usize = 1000;

/// The certificates in a PEM file (`-----BEGIN CERTIFICATE-----`), as DER, for
/// [`crate::CheckOptions::ca_certificates`]: an error when it holds none or a block that does
/// not parse.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, CheckError> {
    use rustls::pki_types::pem::PemObject;
    let certificates = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .take(MAX_EXTRA_ROOTS + 1)
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CheckError::Config(format!("the CA file is not PEM certificates: {e}")))?;
    if certificates.is_empty() {
        return Err(CheckError::Config(
            "the CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    if certificates.len() > MAX_EXTRA_ROOTS {
        return Err(CheckError::Config(format!(
            "the CA file holds more than {MAX_EXTRA_ROOTS} certificates"
        )));
    }
    Ok(certificates)
}

async fn tls(
    stream: TcpStream,
    host: &str,
    extra: &[Vec<u8>],
) -> Result<Box<dyn Stream>, CheckError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // A private SIP server's own authority (--ca-file): trusted besides the public ones.
    for der in extra {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| CheckError::Config(format!("a CA certificate is not usable: {e}")))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(unreachable)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| CheckError::Config(format!("{host} is not a TLS server name")))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .map_err(|e| unreachable(format!("TLS with {host}: {e}")))?;
    Ok(Box::new(stream))
}

async fn until<T>(
    deadline: Instant,
    total: Duration,
    f: impl std::future::Future<Output = Result<T, CheckError>>,
) -> Result<T, CheckError> {
    tokio::time::timeout_at(deadline, f)
        .await
        .map_err(|_| CheckError::Timeout(total.as_secs().max(1)))?
}

impl Connection {
    /// Connects to `target` before `deadline`.
    pub async fn open(
        target: &Target,
        deadline: Instant,
        total: Duration,
        ca_certificates: &[Vec<u8>],
    ) -> Result<Self, CheckError> {
        until(deadline, total, Self::open_now(target, ca_certificates)).await
    }

    async fn open_now(target: &Target, ca_certificates: &[Vec<u8>]) -> Result<Self, CheckError> {
        match target {
            Target::Udp(host_port) => {
                let server = resolve(host_port).await?;
                let bind = if server.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let socket = UdpSocket::bind(bind).await.map_err(unreachable)?;
                socket.connect(server).await.map_err(unreachable)?;
                let local = socket.local_addr().map_err(unreachable)?.to_string();
                Ok(Self {
                    link: Link::Udp { socket },
                    local,
                    last_sent: None,
                })
            }
            Target::Tcp(host_port) | Target::Tls(host_port) => {
                let server = resolve(host_port).await?;
                let stream = TcpStream::connect(server)
                    .await
                    .map_err(|e| unreachable(format!("{host_port}: {e}")))?;
                let local = stream.local_addr().map_err(unreachable)?.to_string();
                let io: Box<dyn Stream> = match target {
                    Target::Tls(_) => tls(stream, host_of(host_port), ca_certificates).await?,
                    _ => Box::new(stream),
                };
                Ok(Self {
                    link: Link::Stream {
                        io,
                        buffer: Vec::new(),
                    },
                    local,
                    last_sent: None,
                })
            }
            Target::WebSocket(uri) => {
                let host = uri
                    .host_str()
                    .ok_or_else(|| CheckError::Config(format!("{uri} has no host")))?;
                let port = uri.port_or_known_default().unwrap_or(80);
                let host_port = format!("{host}:{port}");
                let server = resolve(&host_port).await?;
                let stream = TcpStream::connect(server)
                    .await
                    .map_err(|e| unreachable(format!("{host_port}: {e}")))?;
                let io: Box<dyn Stream> = if uri.scheme() == "wss" {
                    tls(stream, host, ca_certificates).await?
                } else {
                    Box::new(stream)
                };
                let mut request = uri
                    .as_str()
                    .into_client_request()
                    .map_err(|e| CheckError::Config(format!("{uri}: {e}")))?;
                request.headers_mut().insert(
                    "sec-websocket-protocol",
                    "sip".parse().map_err(unreachable)?,
                );
                let mut config = WebSocketConfig::default();
                config.max_message_size = Some(MAX_MESSAGE);
                config.max_frame_size = Some(MAX_MESSAGE);
                let (ws, response) =
                    tokio_tungstenite::client_async_with_config(request, io, Some(config))
                        .await
                        .map_err(|e| unreachable(format!("WebSocket handshake with {uri}: {e}")))?;
                let agreed = response
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.eq_ignore_ascii_case("sip"));
                if !agreed {
                    return Err(CheckError::protocol(
                        "the WebSocket server did not agree to the sip subprotocol",
                    ));
                }
                let local = format!(
                    "{}.invalid",
                    sipauth::random_urlsafe(6)
                        .map_err(unreachable)?
                        .to_ascii_lowercase()
                        .replace(['_', '-'], "x")
                );
                Ok(Self {
                    link: Link::Ws { ws: Box::new(ws) },
                    local,
                    last_sent: None,
                })
            }
        }
    }

    /// Sends one request.
    pub async fn send(&mut self, message: &str) -> Result<(), CheckError> {
        self.last_sent = Some(message.to_string());
        match &mut self.link {
            Link::Udp { socket } => {
                socket.send(message.as_bytes()).await.map_err(unreachable)?;
            }
            Link::Stream { io, .. } => {
                io.write_all(message.as_bytes())
                    .await
                    .map_err(unreachable)?;
                io.flush().await.map_err(unreachable)?;
            }
            Link::Ws { ws } => {
                ws.send(Message::text(message.to_string()))
                    .await
                    .map_err(unreachable)?;
            }
        }
        Ok(())
    }

    /// The next response, before `deadline`. Over UDP the last request is sent again at
    /// 500 ms, 1 s, 2 s, 4 s (timer A) while nothing arrives.
    pub async fn recv(
        &mut self,
        deadline: Instant,
        total: Duration,
    ) -> Result<Response, CheckError> {
        match &mut self.link {
            Link::Udp { socket } => {
                let mut interval = Duration::from_millis(500);
                let mut buf = vec![0u8; MAX_MESSAGE];
                loop {
                    let wait = (Instant::now() + interval).min(deadline);
                    match tokio::time::timeout_at(wait, socket.recv(&mut buf)).await {
                        Ok(Ok(n)) => {
                            let head = head_end(&buf[..n]).unwrap_or(n);
                            return parse_response(&buf[..head]);
                        }
                        // ICMP port unreachable surfaces as a refused receive.
                        Ok(Err(e)) => return Err(unreachable(e)),
                        Err(_) if Instant::now() >= deadline => {
                            return Err(CheckError::Timeout(total.as_secs().max(1)))
                        }
                        Err(_) => {
                            if let Some(m) = &self.last_sent {
                                socket.send(m.as_bytes()).await.map_err(unreachable)?;
                            }
                            interval = (interval * 2).min(Duration::from_secs(4));
                        }
                    }
                }
            }
            Link::Stream { io, buffer } => until(deadline, total, read_stream(io, buffer)).await,
            Link::Ws { ws } => {
                until(deadline, total, async {
                    loop {
                        match ws.next().await {
                            Some(Ok(Message::Text(t))) => {
                                let bytes = t.as_bytes();
                                return parse_response(
                                    &bytes[..head_end(bytes).unwrap_or(bytes.len())],
                                );
                            }
                            Some(Ok(Message::Binary(b))) => {
                                return parse_response(&b[..head_end(&b).unwrap_or(b.len())]);
                            }
                            Some(Ok(Message::Close(_))) | None => {
                                return Err(CheckError::protocol("the server closed the WebSocket"))
                            }
                            Some(Ok(_)) => continue,
                            Some(Err(e)) => {
                                return Err(CheckError::protocol(format!("WebSocket: {e}")))
                            }
                        }
                    }
                })
                .await
            }
        }
    }
}

/// One response from a byte stream: the head, then `Content-Length` bytes skipped.
async fn read_stream(
    io: &mut Box<dyn Stream>,
    buffer: &mut Vec<u8>,
) -> Result<Response, CheckError> {
    let mut chunk = [0u8; 4096];
    loop {
        // RFC 3261 §7.5: CRLFs between messages are keep-alives.
        while buffer.starts_with(b"\r\n") {
            buffer.drain(..2);
        }
        if let Some(end) = head_end(buffer) {
            let response = parse_response(&buffer[..end])?;
            let body: usize = response
                .get("content-length")
                .map(|v| {
                    v.parse()
                        .map_err(|_| CheckError::protocol("a bad Content-Length"))
                })
                .transpose()?
                .unwrap_or(0);
            if body > MAX_MESSAGE {
                return Err(CheckError::protocol("a response body larger than 64 KiB"));
            }
            while buffer.len() < end + body {
                let n = io.read(&mut chunk).await.map_err(unreachable)?;
                if n == 0 {
                    return Err(CheckError::protocol(
                        "the server closed the connection mid-message",
                    ));
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            buffer.drain(..end + body);
            return Ok(response);
        }
        if buffer.len() > MAX_MESSAGE {
            return Err(CheckError::protocol("no end of headers within 64 KiB"));
        }
        let n = io.read(&mut chunk).await.map_err(unreachable)?;
        if n == 0 {
            return Err(CheckError::protocol("the server closed the connection"));
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}
