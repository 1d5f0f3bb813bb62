//! Hand-over (cluster mode): a draining recorder (SIGTERM, `POST /internal/drain`) asks another
//! recorder with room to continue each of its sessions. The new one claims the session under the
//! next fencing number, joins, and answers once the participants' audio flows there; the old one
//! then ends its segment at that instant T. The assembly uses the old segment up to T and the new
//! one from T: no gap, nothing doubled.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::handle::{SessionCmd, SessionHandle};
use super::{Sessions, page_protocol::Uid};
use crate::cluster::Takeover;
use crate::continuity::{HandoverAnswer, HandoverRequest};
use crate::error::RecorderError;

/// How long the new recorder may take to join and hear everyone.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the new recorder waits for the participants the old one hears.
const HEAR_EVERYONE: Duration = Duration::from_secs(10);
/// After subscribing, audio needs a moment to flow through the page into the file; the rest of
/// the second is overlap both recorders hold, on which the assembly aligns the seam
/// (`continuity::align`).
const AUDIO_SETTLES: Duration = Duration::from_millis(1000);

fn uid_text(uid: &Uid) -> String {
    match uid {
        Uid::Num(n) => n.to_string(),
        Uid::Str(s) => s.clone(),
    }
}

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

impl Sessions {
    /// The receiving end: continues the session here and answers once its audio flows.
    pub async fn take_handover(
        &self,
        req: HandoverRequest,
    ) -> Result<HandoverAnswer, RecorderError> {
        let Some(cluster) = self.ctx.cluster.clone() else {
            return Err(RecorderError::SessionNotFound);
        };
        {
            let reg = self.ctx.registry();
            if reg.closed {
                return Err(RecorderError::ShuttingDown);
            }
            reg.room_for_one(self.ctx.settings.max_sessions, false)?;
        }
        let taken = cluster
            .take_over(
                &req.channel,
                &req.sid.to_string(),
                Takeover::Handover {
                    from_fencing: req.fencing,
                },
            )
            .await?;
        let Some((fencing, route)) = taken else {
            return Err(RecorderError::SessionNotFound);
        };
        cluster.counters().takeover("handover");
        self.resume(route, fencing, "handover").await?;
        let handle = self.get(req.sid).ok_or(RecorderError::SessionNotFound)?;
        let deadline = Instant::now() + HEAR_EVERYONE;
        while Instant::now() < deadline
            && !handle.with_live(|live| {
                req.publishing
                    .iter()
                    .all(|uid| live.subscribed.contains(uid))
            })
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(AUDIO_SETTLES).await;
        Ok(HandoverAnswer {
            fencing,
            start_ms: now_ms(),
        })
    }

    /// Hands one recording session to another recorder; false if none took it.
    pub async fn hand_over(&self, handle: &SessionHandle) -> bool {
        let (Some(cluster), Some(continuity), Some(fencing)) = (
            self.ctx.cluster.clone(),
            self.ctx.continuity.clone(),
            handle.fencing(),
        ) else {
            return false;
        };
        if handle.status().is_none_or(|s| s.status != "recording") {
            return false;
        }
        let peers = cluster.placeable_peers();
        if peers.is_empty() {
            tracing::warn!(sid = %handle.sid, "no other recorder has room: the session ends here");
            return false;
        }
        let req = HandoverRequest {
            sid: handle.sid,
            channel: handle.channel.as_str().to_owned(),
            fencing,
            publishing: handle.with_live(|live| live.participants.iter().map(uid_text).collect()),
        };
        for (id, url) in peers {
            match continuity
                .peers
                .handover(&url, &req, HANDOVER_TIMEOUT)
                .await
            {
                Ok(answer) => {
                    let (reply, done) = oneshot::channel();
                    let at_ms = now_ms().max(answer.start_ms);
                    tracing::info!(sid = %handle.sid, to = %id, "session handed over");
                    if handle.send(SessionCmd::HandedOver {
                        at_ms,
                        to: id.clone(),
                        reply,
                    }) {
                        let _ = done.await;
                    }
                    // The new owner copies this recorder's segments of the session now (this one
                    // and any earlier): this recorder may be going away.
                    for segment in continuity.store.of_session(handle.sid) {
                        if let Err(e) = continuity
                            .peers
                            .pull(&url, handle.sid, segment.fencing, cluster.id())
                            .await
                        {
                            tracing::warn!(sid = %handle.sid, to = %id, error = e, "the new owner did not copy a segment yet; it fetches it at stop");
                        }
                    }
                    return true;
                }
                Err(e) => {
                    tracing::warn!(sid = %handle.sid, to = %id, error = e, "a recorder did not take the session over; trying the next");
                }
            }
        }
        false
    }

    /// Hands every session over (cluster mode); the handles no other recorder took.
    pub async fn hand_over_all(&self) -> Vec<std::sync::Arc<SessionHandle>> {
        if self.ctx.cluster.is_none() {
            return self.all();
        }
        let handles = self.all();
        let results =
            futures_util::future::join_all(handles.iter().map(|h| self.hand_over(h))).await;
        handles
            .into_iter()
            .zip(results)
            .filter(|(_, handed)| !handed)
            .map(|(h, _)| h)
            .collect()
    }
}
