//! One page's WebSocket: JSON control messages and binary audio chunks in, commands out. Each
//! connection is an epoch of its session (a reopened tab is a new epoch).
//!
//! The page proves it is the session's own with its first message, `{"type":"auth","key":…}`
//! (the key it was handed in `window.__memharborKey`, never in a URL); until then nothing it
//! sends reaches the session, and a wrong or late key closes the socket.

use std::time::Duration;

use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use actix_ws::AggregatedMessage;
use futures_util::StreamExt as _;
use serde::Deserialize;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::session::{SessionCmd, Sessions};

/// The largest message a page may send (a chunk is ~8 KB).
const MAX_MESSAGE: usize = 1 << 20;
/// How long a page has to present its key.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(tag = "type", rename = "auth")]
struct Auth {
    key: String,
}

pub(super) async fn connect(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    sessions: web::Data<Sessions>,
) -> Result<HttpResponse, actix_web::Error> {
    let Some(handle) = path.parse::<Uuid>().ok().and_then(|sid| sessions.get(sid)) else {
        return Ok(HttpResponse::NotFound().finish());
    };
    let (response, mut ws, stream) = actix_ws::handle(&req, body)?;
    let mut stream = stream
        .max_frame_size(MAX_MESSAGE)
        .aggregate_continuations()
        .max_continuation_size(MAX_MESSAGE);
    actix_web::rt::spawn(async move {
        let first = tokio::time::timeout(AUTH_TIMEOUT, stream.next()).await;
        let authentic = match first {
            Ok(Some(Ok(AggregatedMessage::Text(text)))) => serde_json::from_str::<Auth>(&text)
                .is_ok_and(|auth| {
                    memharbor_shared::internal_auth::matches(&auth.key, handle.page_key())
                }),
            _ => false,
        };
        if !authentic {
            tracing::warn!(sid = %handle.sid, "a page connection without the session's key was closed");
            let _ = ws.close(None).await;
            return;
        }
        let epoch = handle.next_epoch();
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        handle.send(SessionCmd::PageConnected { epoch, tx });
        loop {
            tokio::select! {
                incoming = stream.next() => match incoming {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        handle.send(SessionCmd::PageText { epoch, text: text.to_string() });
                    }
                    Some(Ok(AggregatedMessage::Binary(bytes))) => {
                        handle.send(SessionCmd::PageBinary { epoch, bytes });
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if ws.pong(&bytes).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Close(_)) | Err(_)) | None => break,
                },
                outgoing = rx.recv() => match outgoing {
                    Some(text) => {
                        if ws.text(text).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                },
            }
        }
        let _ = ws.close(None).await;
        handle.send(SessionCmd::PageClosed { epoch });
    });
    Ok(response)
}
