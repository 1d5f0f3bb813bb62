//! Where sessions meet the cluster: what the heartbeat reports of them, and a session continued
//! here under the same sid after a failover or hand-over.

use uuid::Uuid;

use super::{SessionCmd, Sessions};
use crate::cluster::{HeldSessions, LeaseLost, RecordingParams, SessionRoute};
use crate::record::Lease;

/// A session continued on this recorder under the same sid (cluster mode): what its recording
/// is, and the segments other recorders hold of it.
#[derive(Debug, Clone)]
pub struct Continuation {
    pub params: RecordingParams,
    pub earlier: Vec<Lease>,
    /// `failover` or `handover`.
    pub kind: &'static str,
}

impl Continuation {
    pub(super) fn of(route: &SessionRoute, kind: &'static str) -> Option<Self> {
        Some(Self {
            params: route.recording.clone()?,
            earlier: route
                .earlier
                .iter()
                .map(|s| Lease {
                    recorder: s.recorder.clone(),
                    fencing: s.fencing,
                })
                .collect(),
            kind,
        })
    }
}

/// What the cluster's heartbeat reports and checks: the sessions holding a claim.
impl HeldSessions for Sessions {
    fn held(&self) -> Vec<(memharbor_directory::HeldSession, Option<String>)> {
        self.all()
            .iter()
            .filter_map(|h| {
                let fencing = h.fencing()?;
                Some((
                    memharbor_directory::HeldSession {
                        sid: h.sid.to_string(),
                        channel: h.channel.as_str().to_owned(),
                        fencing,
                    },
                    h.with_live(|live| live.filename.clone()),
                ))
            })
            .collect()
    }

    fn in_use(&self) -> usize {
        self.count()
    }

    fn lease_lost(&self, lost: LeaseLost) {
        if let Some(handle) = Uuid::parse_str(&lost.sid)
            .ok()
            .and_then(|sid| self.get(sid))
        {
            handle.send(SessionCmd::LeaseLost {
                current_fencing: lost.current_fencing,
                until_ms: lost.until_ms,
            });
        }
    }

    fn continue_session(&self, route: SessionRoute, fencing: u64) {
        let sessions = self.clone();
        self.ctx.runtime.spawn(async move {
            let sid = route.sid.clone();
            if let Err(e) = sessions.resume(route, fencing, "failover").await {
                tracing::error!(%sid, error = %e, "continuing the session failed");
            }
        });
    }
}
