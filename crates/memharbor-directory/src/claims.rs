//! Channel claims: one session per channel across the cluster. A claim is created if absent, and
//! otherwise changed only by compare-and-set on the document's update time, so two recorders
//! racing for a channel always agree on the winner. Every new claim of a channel takes the next
//! fencing number.

use memharbor_google::GoogleError;
use memharbor_google::firestore::{Document, Precondition, Write};
use serde_json::json;

use crate::{CHANNELS, Directory, SESSIONS, Unavailable, id_of, number, object, plain_id, text};

/// How many times a claim or a release re-reads after losing a race before giving up.
const ATTEMPTS: usize = 8;

/// The outcome of claiming a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours, with this fencing number (write it into the session's journal).
    Granted { fencing: u64 },
    /// A live recorder records it already: that session is the channel's.
    Existing { sid: String, recorder: String },
    /// Its owner's heartbeat is stale (or it restarted): the session waits to be taken over.
    Orphaned { sid: String, recorder: String },
}

/// A channel's claim as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelClaim {
    pub sid: String,
    pub recorder: String,
    pub incarnation: String,
    pub fencing: u64,
    /// Held by a session in progress (`false` once released).
    pub active: bool,
}

fn claim_of(doc: &Document) -> ChannelClaim {
    let f = &doc.fields;
    ChannelClaim {
        sid: text(f, "sid"),
        recorder: text(f, "recorder"),
        incarnation: text(f, "incarnation"),
        fencing: number(f, "fencing"),
        active: text(f, "state") == "active",
    }
}

/// The claim and the session's route, written together.
fn claim_writes(
    channel: &str,
    sid: &str,
    me: &str,
    incarnation: &str,
    fencing: u64,
    stem: Option<&str>,
    precondition: Precondition,
) -> [Write; 2] {
    let mut route = object(
        json!({"channel": channel, "recorder": me, "incarnation": incarnation,
                                  "fencing": fencing}),
    );
    if let Some(stem) = stem {
        route.insert("stem".into(), json!(stem));
    }
    [
        Write::set(
            format!("{CHANNELS}/{channel}"),
            object(
                json!({"sid": sid, "recorder": me, "incarnation": incarnation,
                          "fencing": fencing, "state": "active"}),
            ),
        )
        .server_time("claimedAt")
        .only(precondition),
        Write::set(
            format!("{SESSIONS}/{sid}"),
            object(
                json!({"channel": channel, "recorder": me, "incarnation": incarnation,
                          "fencing": fencing, "stem": stem}),
            ),
        )
        .server_time("claimedAt"),
    ]
}

impl Directory {
    /// The claim on `channel`, if any.
    pub async fn channel(&self, channel: &str) -> Result<Option<ChannelClaim>, Unavailable> {
        if !plain_id(channel) {
            return Ok(None);
        }
        self.count_reads(1);
        Ok(self
            .firestore
            .get(&format!("{CHANNELS}/{channel}"))
            .await?
            .as_ref()
            .map(claim_of))
    }

    /// Claims `channel` for session `sid` on recorder `me` in `incarnation`,
    /// atomically: a new claim, or the next fencing number of a released one; otherwise the live
    /// session that has it, or the orphan that waits for a new owner.
    pub async fn claim(
        &self,
        channel: &str,
        sid: &str,
        me: &str,
        incarnation: &str,
    ) -> Result<Claim, Unavailable> {
        if !plain_id(channel) || !plain_id(sid) {
            return Err(Unavailable(format!("{channel:?} cannot name a claim")));
        }
        let path = format!("{CHANNELS}/{channel}");
        for _ in 0..ATTEMPTS {
            self.count_reads(1);
            let current = self.firestore.get(&path).await?;
            let (fencing, precondition) = match &current {
                None => (1, Precondition::Exists(false)),
                Some(doc) => {
                    let claim = claim_of(doc);
                    if claim.active {
                        let members = self.members().await?;
                        return Ok(if members.is_live(&claim.recorder, &claim.incarnation) {
                            Claim::Existing {
                                sid: claim.sid,
                                recorder: claim.recorder,
                            }
                        } else {
                            Claim::Orphaned {
                                sid: claim.sid,
                                recorder: claim.recorder,
                            }
                        });
                    }
                    (
                        claim.fencing + 1,
                        Precondition::UpdateTime(doc.update_time.clone()),
                    )
                }
            };
            self.count_writes(2);
            let writes = claim_writes(channel, sid, me, incarnation, fencing, None, precondition);
            match self.firestore.commit(&writes).await {
                Ok(_) => return Ok(Claim::Granted { fencing }),
                Err(GoogleError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Unavailable(format!(
            "the claim on {channel} kept changing under contention"
        )))
    }

    /// Writes a session's claim again after the directory lost it (a reset), with the fencing
    /// number it had (and its files' stem, when known). False if the channel is someone
    /// else's now.
    pub async fn restore_claim(
        &self,
        session: &crate::HeldSession,
        me: &str,
        incarnation: &str,
        stem: Option<&str>,
    ) -> Result<bool, Unavailable> {
        self.count_writes(2);
        let writes = claim_writes(
            &session.channel,
            &session.sid,
            me,
            incarnation,
            session.fencing,
            stem,
            Precondition::Exists(false),
        );
        match self.firestore.commit(&writes).await {
            Ok(_) => Ok(true),
            Err(GoogleError::Conflict(_)) => Ok(self
                .channel(&session.channel)
                .await?
                .is_some_and(|c| c.sid == session.sid && c.fencing == session.fencing)),
            Err(e) => Err(e.into()),
        }
    }

    /// Frees `channel` if session `sid` still holds it under `fencing` (a later owner's claim is
    /// never touched). The number stays, for the next claim to exceed.
    pub async fn release(&self, channel: &str, sid: &str, fencing: u64) -> Result<(), Unavailable> {
        let path = format!("{CHANNELS}/{channel}");
        for _ in 0..ATTEMPTS {
            self.count_reads(1);
            let Some(doc) = self.firestore.get(&path).await? else {
                return Ok(());
            };
            let claim = claim_of(&doc);
            if claim.sid != sid || claim.fencing != fencing || !claim.active {
                return Ok(());
            }
            self.count_writes(1);
            let write = Write::set(path.clone(), object(json!({"state": "released"})))
                .merge()
                .server_time("releasedAt")
                .only(Precondition::UpdateTime(doc.update_time.clone()));
            match self.firestore.commit(&[write]).await {
                Ok(_) => return Ok(()),
                Err(GoogleError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Unavailable(format!("releasing {channel} kept conflicting")))
    }

    /// The active claims recorder `id` holds (any incarnation), with their channels: what a
    /// failover looks for when `id` goes silent (its heartbeat may predate its newest sessions).
    pub async fn active_claims_of(
        &self,
        id: &str,
    ) -> Result<Vec<(String, ChannelClaim)>, Unavailable> {
        let (docs, _) = self
            .firestore
            .query(json!({
                "from": [{"collectionId": CHANNELS}],
                "where": {"fieldFilter": {"field": {"fieldPath": "recorder"}, "op": "EQUAL", "value": {"stringValue": id}}},
            }))
            .await?;
        self.count_reads(docs.len());
        Ok(docs
            .iter()
            .map(|doc| (id_of(&doc.path), claim_of(doc)))
            .filter(|(_, claim)| claim.active)
            .collect())
    }

    /// Frees every channel `me` claimed in an earlier incarnation: those sessions ended with it
    /// (the restarted recorder repaired and listed their audio). The number freed.
    pub async fn release_earlier_claims(
        &self,
        me: &str,
        incarnation: &str,
    ) -> Result<usize, Unavailable> {
        let (docs, _) = self
            .firestore
            .query(json!({
                "from": [{"collectionId": CHANNELS}],
                "where": {"fieldFilter": {"field": {"fieldPath": "recorder"}, "op": "EQUAL", "value": {"stringValue": me}}},
            }))
            .await?;
        self.count_reads(docs.len());
        let mut released = 0;
        for doc in docs {
            let claim = claim_of(&doc);
            if claim.active && claim.incarnation != incarnation {
                self.release(&id_of(&doc.path), &claim.sid, claim.fencing)
                    .await?;
                released += 1;
            }
        }
        Ok(released)
    }
}

/// Who takes a session over, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takeover {
    /// Its owner's heartbeat went stale: only if it is still stale when the claim is written.
    Failover,
    /// Its owner hands it over (draining): only if it still holds it under this number.
    Handover { from_fencing: u64 },
}

/// What retiring a dead incarnation's claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retired {
    /// Nobody continued the session: its audio is the whole recording.
    Ours,
    /// Another recorder continued it under this number: the audio is a segment of it.
    TakenOver { fencing: u64, recorder: String },
}

impl Directory {
    /// Takes session `sid` on `channel` over for recorder `me`: the next fencing number, the
    /// route pointing here with the former owner added to its segments. `None` if the session is
    /// not (or no longer) to be taken: released, someone else's, or its owner came back.
    pub async fn take_over(
        &self,
        channel: &str,
        sid: &str,
        me: &str,
        incarnation: &str,
        how: Takeover,
    ) -> Result<Option<(u64, crate::SessionRoute)>, Unavailable> {
        if !plain_id(channel) || !plain_id(sid) {
            return Ok(None);
        }
        let path = format!("{CHANNELS}/{channel}");
        self.count_reads(1);
        let Some(doc) = self.firestore.get(&path).await? else {
            return Ok(None);
        };
        let claim = claim_of(&doc);
        // A recorder may continue its own earlier incarnation's session (restarted after a crash).
        let ours_now = claim.recorder == me && claim.incarnation == incarnation;
        if !claim.active || claim.sid != sid || ours_now {
            return Ok(None);
        }
        match how {
            Takeover::Failover => {
                let members = self.members().await?;
                if members.is_live(&claim.recorder, &claim.incarnation) {
                    return Ok(None);
                }
            }
            Takeover::Handover { from_fencing } if from_fencing != claim.fencing => {
                return Ok(None);
            }
            Takeover::Handover { .. } => {}
        }
        self.count_reads(1);
        let route_path = format!("{SESSIONS}/{sid}");
        let mut fields = self
            .firestore
            .get(&route_path)
            .await?
            .map(|d| d.fields)
            .unwrap_or_default();
        let mut route = crate::sessions::route(sid.to_owned(), &fields);
        if route.recording.is_none() {
            // It never recorded: there is nothing to continue.
            return Ok(None);
        }
        let fencing = claim.fencing + 1;
        route.earlier.push(crate::SegmentRef {
            recorder: claim.recorder.clone(),
            fencing: claim.fencing,
        });
        fields.insert("recorder".into(), json!(me));
        fields.insert("incarnation".into(), json!(incarnation));
        fields.insert("fencing".into(), json!(fencing));
        fields.insert("earlier".into(), json!(route.earlier));
        route.recorder = me.to_owned();
        route.fencing = fencing;
        self.count_writes(2);
        let writes = [
            Write::set(
                path,
                object(
                    json!({"sid": sid, "recorder": me, "incarnation": incarnation,
                              "fencing": fencing, "state": "active"}),
                ),
            )
            .server_time("claimedAt")
            .only(Precondition::UpdateTime(doc.update_time.clone())),
            Write::set(route_path, fields),
        ];
        match self.firestore.commit(&writes).await {
            Ok(_) => Ok(Some((fencing, route))),
            Err(GoogleError::Conflict(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A restarted recorder's decision on a session its former incarnation recorded under
    /// `fencing`: release the claim if it is still that session's (nobody can take it over after
    /// that), then see whether another recorder continued it.
    pub async fn retire(
        &self,
        channel: &str,
        sid: &str,
        fencing: u64,
    ) -> Result<Retired, Unavailable> {
        self.release(channel, sid, fencing).await?;
        Ok(match self.session(sid).await? {
            Some(route) if route.fencing > fencing => Retired::TakenOver {
                fencing: route.fencing,
                recorder: route.recorder,
            },
            _ => Retired::Ours,
        })
    }
}
