//! Recorders' heartbeats: one document per recorder, rewritten every few seconds with the
//! server's time; and the members as a reader sees them, live or not by Firestore's own clock.

use std::time::Duration;

use memharbor_google::GoogleError;
use memharbor_google::firestore::{Precondition, Write};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{Directory, RECORDERS, Unavailable, id_of, number, object, text};

/// A session a recorder holds (in its heartbeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSession {
    pub sid: String,
    pub channel: String,
    pub fencing: u64,
}

/// A recorder as it registers itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Stable across restarts (`RECORDER_ID`: a StatefulSet pod's name).
    pub id: String,
    /// Where the gateways and the other recorders reach its internal API
    /// (`RECORDER_ADVERTISE_URL`).
    pub url: String,
    /// New at every start: tells a restarted recorder from its former self.
    pub incarnation: String,
    pub capacity: u32,
    pub in_use: u32,
    pub draining: bool,
    pub version: String,
    pub sessions: Vec<HeldSession>,
}

/// A member as a reader sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    pub member: Member,
    /// How old its heartbeat was when read (Firestore's clock).
    pub heartbeat_age: Option<Duration>,
    /// Its heartbeat is fresh: it may get sessions, and its claims stand.
    pub live: bool,
}

impl MemberView {
    /// Live, not draining, with room.
    pub fn placeable(&self) -> bool {
        self.live && !self.member.draining && self.member.in_use < self.member.capacity
    }

    pub fn free(&self) -> u32 {
        self.member.capacity.saturating_sub(self.member.in_use)
    }
}

/// Every registered recorder, as of one read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Members {
    pub all: Vec<MemberView>,
}

impl Members {
    pub fn live(&self) -> impl Iterator<Item = &MemberView> {
        self.all.iter().filter(|m| m.live)
    }

    pub fn get(&self, id: &str) -> Option<&MemberView> {
        self.all.iter().find(|m| m.member.id == id)
    }

    /// Whether `id` in incarnation `incarnation` is live.
    pub fn is_live(&self, id: &str, incarnation: &str) -> bool {
        self.get(id)
            .is_some_and(|m| m.live && m.member.incarnation == incarnation)
    }
}

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    Written,
    /// Our document was gone (the directory lost its state): it is written again, and the caller
    /// restores its sessions' claims.
    Restored,
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

impl Directory {
    /// Writes `member`'s heartbeat. Later beats (`renewing`) require the document to exist: if it
    /// is gone, the directory lost its state, and the beat says so after writing it again.
    pub async fn heartbeat(&self, member: &Member, renewing: bool) -> Result<Beat, Unavailable> {
        let sessions: Vec<Value> = member
            .sessions
            .iter()
            .map(|s| json!({"sid": s.sid, "channel": s.channel, "fencing": s.fencing}))
            .collect();
        let fields = object(json!({
            "url": member.url, "incarnation": member.incarnation, "capacity": member.capacity,
            "inUse": member.in_use, "draining": member.draining, "version": member.version,
            "sessions": sessions,
        }));
        let path = format!("{RECORDERS}/{}", member.id);
        let write = Write::set(path, fields).server_time("heartbeatAt");
        self.count_writes(1);
        if renewing {
            match self
                .firestore
                .commit(&[write.clone().only(Precondition::Exists(true))])
                .await
            {
                Ok(_) => return Ok(Beat::Written),
                Err(GoogleError::Conflict(_)) => {
                    self.count_writes(1);
                    self.firestore.commit(&[write]).await?;
                    return Ok(Beat::Restored);
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.firestore.commit(&[write]).await?;
        Ok(Beat::Written)
    }

    /// Every registered recorder, with whether it is live.
    pub async fn members(&self) -> Result<Members, Unavailable> {
        let (docs, read_time) = self
            .firestore
            .query(json!({"from": [{"collectionId": RECORDERS}]}))
            .await?;
        self.count_reads(docs.len());
        let now = parse_time(&read_time);
        let all = docs
            .iter()
            .map(|doc| {
                let f = &doc.fields;
                let heartbeat_age = match (now, parse_time(&text(f, "heartbeatAt"))) {
                    (Some(now), Some(at)) => Some((now - at).try_into().unwrap_or(Duration::ZERO)),
                    _ => None,
                };
                let sessions = f
                    .get("sessions")
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .filter_map(|s| {
                                Some(HeldSession {
                                    sid: s.get("sid")?.as_str()?.to_owned(),
                                    channel: s.get("channel")?.as_str()?.to_owned(),
                                    fencing: s.get("fencing").and_then(Value::as_u64).unwrap_or(0),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                MemberView {
                    member: Member {
                        id: id_of(&doc.path),
                        url: text(f, "url"),
                        incarnation: text(f, "incarnation"),
                        capacity: u32::try_from(number(f, "capacity")).unwrap_or(0),
                        in_use: u32::try_from(number(f, "inUse")).unwrap_or(0),
                        draining: f.get("draining").and_then(Value::as_bool).unwrap_or(false),
                        version: text(f, "version"),
                        sessions,
                    },
                    live: heartbeat_age.is_some_and(|age| age < self.stale_after),
                    heartbeat_age,
                }
            })
            .collect();
        Ok(Members { all })
    }
}
