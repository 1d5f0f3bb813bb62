//! Chromium's DevTools protocol over a pipe (`--remote-debugging-pipe`: Chromium reads commands on
//! fd 3 and writes answers and events on fd 4, each message a JSON text ended by a NUL byte)
//! instead of `--remote-debugging-port`, which lets any process in the pod list the tabs and
//! drive the browser.
//!
//! chromiumoxide speaks only WebSocket, so this module bridges: it serves the pipe to exactly
//! one WebSocket client, on loopback, at a path holding a random secret, and closes its listener
//! as soon as that client is connected. It also counts what Chromium sends, so the cost of the
//! DevTools link is visible (`memharbor_recorder_cdp_*` metrics).

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::StatusCode;
use futures_util::StreamExt as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::net::unix::pipe;
use tokio::sync::oneshot;

use crate::metrics::BrowserCounters;

/// How long the rightful client (chromiumoxide, in this process) may take to connect.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Id of the probe command: a 32-bit integer, as Chromium requires (chromiumoxide numbers its
/// own from 0, and connects only after the probe).
const PROBE_ID: u64 = 2_000_000_000;

/// The ends Chromium inherits: its fd 3 (commands in) and fd 4 (messages out).
#[derive(Debug)]
pub struct ChildEnds {
    pub commands: OwnedFd,
    pub messages: OwnedFd,
}

/// Our ends of the two pipes.
#[derive(Debug)]
pub struct ParentEnds {
    commands: OwnedFd,
    messages: OwnedFd,
}

/// Two pipes: one for commands to Chromium, one for what it sends back.
pub fn pipes() -> io::Result<(ChildEnds, ParentEnds)> {
    let (commands_read, commands_write) = io::pipe()?;
    let (messages_read, messages_write) = io::pipe()?;
    Ok((
        ChildEnds {
            commands: commands_read.into(),
            messages: messages_write.into(),
        },
        ParentEnds {
            commands: commands_write.into(),
            messages: messages_read.into(),
        },
    ))
}

/// The pipe to one Chromium.
pub struct Pipe {
    tx: pipe::Sender,
    rx: BufReader<pipe::Receiver>,
    counters: BrowserCounters,
}

impl std::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pipe")
    }
}

impl Pipe {
    pub fn new(ends: ParentEnds, counters: BrowserCounters) -> io::Result<Self> {
        Ok(Self {
            tx: pipe::Sender::from_owned_fd(ends.commands)?,
            rx: BufReader::new(pipe::Receiver::from_owned_fd(ends.messages)?),
            counters,
        })
    }

    async fn send(tx: &mut pipe::Sender, message: &[u8]) -> io::Result<()> {
        tx.write_all(message).await?;
        tx.write_all(b"\0").await
    }

    /// The next message from Chromium (without its NUL), or `None` once it has closed the pipe.
    async fn recv(
        rx: &mut BufReader<pipe::Receiver>,
        counters: &BrowserCounters,
    ) -> io::Result<Option<Vec<u8>>> {
        let mut message = Vec::new();
        if rx.read_until(0, &mut message).await? == 0 {
            return Ok(None);
        }
        if message.last() == Some(&0) {
            message.pop();
        }
        counters.cdp_messages.inc();
        counters.cdp_bytes.inc_by(message.len() as u64);
        Ok(Some(message))
    }

    /// Asks for Chromium's version and waits for the answer: the browser is up and the pipe works.
    pub async fn probe(&mut self) -> io::Result<()> {
        let command = format!(r#"{{"id":{PROBE_ID},"method":"Browser.getVersion"}}"#);
        Self::send(&mut self.tx, command.as_bytes()).await?;
        let needle = format!(r#""id":{PROBE_ID}"#);
        loop {
            match Self::recv(&mut self.rx, &self.counters).await? {
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "Chromium closed its DevTools pipe",
                    ));
                }
                Some(message) if contains(&message, needle.as_bytes()) => return Ok(()),
                Some(_) => {}
            }
        }
    }

    /// Serves the pipe to one WebSocket client and returns the URL it must use, and a signal that
    /// fires (or is dropped) once the link is over: Chromium closed its pipe (it exited), or the
    /// client left. Nothing else can connect: a client without the secret path is refused, and the
    /// listener is closed once the rightful client is in (or after [`ACCEPT_TIMEOUT`]).
    ///
    /// The signal is how a death is noticed: chromiumoxide's handler sees the WebSocket close but
    /// does not end its stream on it (it ends only on an error, i.e. when it next sends a command).
    pub async fn serve(self) -> io::Result<(String, oneshot::Receiver<()>)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let path = format!("/devtools/browser/{}", uuid::Uuid::new_v4().simple());
        let url = format!("ws://{}{path}", listener.local_addr()?);
        let (over, over_rx) = oneshot::channel();
        tokio::spawn(async move {
            match tokio::time::timeout(ACCEPT_TIMEOUT, accept_one(&listener, &path)).await {
                Ok(Some(ws)) => {
                    drop(listener);
                    self.relay(ws).await;
                }
                _ => tracing::warn!("nobody connected to a browser's DevTools bridge"),
            }
            let _ = over.send(());
        });
        Ok((url, over_rx))
    }

    /// Copies messages both ways until either side closes.
    async fn relay(
        self,
        ws: async_tungstenite::WebSocketStream<
            async_tungstenite::tokio::TokioAdapter<tokio::net::TcpStream>,
        >,
    ) {
        let Self {
            mut tx,
            mut rx,
            counters,
        } = self;
        let (mut sink, mut stream) = ws.split();
        let to_client = async move {
            while let Ok(Some(message)) = Self::recv(&mut rx, &counters).await {
                let text = String::from_utf8_lossy(&message).into_owned();
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
            let _ = sink.close(None).await;
        };
        let to_chromium = async move {
            while let Some(Ok(message)) = stream.next().await {
                let sent = match message {
                    Message::Text(text) => Self::send(&mut tx, text.as_bytes()).await.is_ok(),
                    Message::Close(_) => false,
                    _ => true,
                };
                if !sent {
                    break;
                }
            }
        };
        tokio::select! {
            () = to_client => {}
            () = to_chromium => {}
        }
    }
}

/// Accepts connections until one completes the handshake at `path`; the others are refused.
async fn accept_one(
    listener: &TcpListener,
    path: &str,
) -> Option<
    async_tungstenite::WebSocketStream<
        async_tungstenite::tokio::TokioAdapter<tokio::net::TcpStream>,
    >,
> {
    loop {
        let (stream, _) = listener.accept().await.ok()?;
        let expected = path.to_owned();
        // The callback's signature is tungstenite's (its error type is an HTTP response).
        #[allow(clippy::result_large_err)]
        let check = move |request: &Request, response: Response| {
            if request.uri().path() == expected {
                Ok(response)
            } else {
                let mut refusal = ErrorResponse::new(None);
                *refusal.status_mut() = StatusCode::NOT_FOUND;
                Err(refusal)
            }
        };
        let config = async_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(None)
            .max_frame_size(None);
        match async_tungstenite::tokio::accept_hdr_async_with_config(stream, check, Some(config))
            .await
        {
            Ok(ws) => return Some(ws),
            Err(e) => {
                tracing::warn!(error = %e, "refused a connection to a browser's DevTools bridge")
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
