//! The outbox: every event waits on disk, one file per endpoint, until that endpoint confirms
//! it — `{dir}/{endpoint}/{sid}/{seq}.json` — and each session's counter and once-only events in
//! `{dir}/sessions/{sid}.json`. In memory, per endpoint, each session's events in order: only a
//! session's oldest is ever sent, so a receiver hears a session's events in order.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::durable::write_atomically;

/// How long a session's counter outlives its last event.
const SESSION_LOG_KEPT: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// An event waiting for one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub id: String,
    pub sid: Uuid,
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub body: String,
    pub created_ms: i64,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    /// Set while an attempt is made early (the endpoint came back): its scheduled time, kept
    /// if that attempt fails too, so early attempts never use up the schedule.
    #[serde(default)]
    pub scheduled_ms: Option<i64>,
}

/// A session's counter and the once-only events it has emitted.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SessionLog {
    next: u64,
    once: BTreeSet<String>,
}

/// One endpoint's queue.
#[derive(Debug, Default)]
pub struct Queue {
    pub by_session: BTreeMap<Uuid, VecDeque<Pending>>,
    pub running: HashSet<Uuid>,
    /// Why it is disabled (a 410 Gone), until an operator re-enables it.
    pub disabled: Option<String>,
    pub delivered: u64,
    pub failed: u64,
    pub dead: u64,
    pub last_error: Option<String>,
}

impl Queue {
    pub fn pending(&self) -> usize {
        self.by_session.values().map(VecDeque::len).sum()
    }

    pub fn oldest_ms(&self) -> Option<i64> {
        self.by_session
            .values()
            .filter_map(|q| q.front().map(|p| p.created_ms))
            .min()
    }
}

#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    keys: Vec<String>,
    sessions: HashMap<Uuid, SessionLog>,
    pub queues: Vec<Queue>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

impl Outbox {
    /// Loads what waits on disk for each endpoint (`keys`: one folder name per endpoint).
    pub fn load(dir: &Path, keys: Vec<String>) -> io::Result<Self> {
        fs::create_dir_all(dir.join("sessions"))?;
        // A session's counter is needed while events may still come (an upload retried for
        // days); a month after its last event it goes.
        for log in fs::read_dir(dir.join("sessions"))?.flatten() {
            let old = log
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > SESSION_LOG_KEPT));
            if old {
                let _ = fs::remove_file(log.path());
            }
        }
        let mut queues = Vec::new();
        for key in &keys {
            let root = dir.join(key);
            fs::create_dir_all(&root)?;
            let mut queue = Queue {
                disabled: fs::read_to_string(root.join("disabled")).ok(),
                ..Queue::default()
            };
            for session in fs::read_dir(&root)?.flatten() {
                let Ok(sid) = Uuid::parse_str(&session.file_name().to_string_lossy()) else {
                    continue;
                };
                let mut events: Vec<Pending> = fs::read_dir(session.path())?
                    .flatten()
                    .filter(|f| f.path().extension().is_some_and(|e| e == "json"))
                    .filter_map(|f| read_json(&f.path()))
                    .collect();
                events.sort_by_key(|p| p.seq);
                if !events.is_empty() {
                    queue.by_session.insert(sid, events.into());
                }
            }
            queues.push(queue);
        }
        Ok(Self {
            dir: dir.to_owned(),
            keys,
            sessions: HashMap::new(),
            queues,
        })
    }

    fn session_path(&self, sid: Uuid) -> PathBuf {
        self.dir.join("sessions").join(format!("{sid}.json"))
    }

    fn event_path(&self, endpoint: usize, sid: Uuid, seq: u64) -> PathBuf {
        self.dir
            .join(&self.keys[endpoint])
            .join(sid.to_string())
            .join(format!("{seq:010}.json"))
    }

    /// The session's log, read once; its counter is past every event still on disk (a crash
    /// between an event's file and the log's never reuses a number).
    fn log(&mut self, sid: Uuid) -> &mut SessionLog {
        if !self.sessions.contains_key(&sid) {
            let mut log: SessionLog = read_json(&self.session_path(sid)).unwrap_or_default();
            let highest = self
                .queues
                .iter()
                .filter_map(|q| q.by_session.get(&sid)?.back().map(|p| p.seq + 1))
                .max()
                .unwrap_or(0);
            log.next = log.next.max(highest);
            self.sessions.insert(sid, log);
        }
        self.sessions.entry(sid).or_default()
    }

    /// The session's next events are numbered from `next` at least (a session continued on
    /// this recorder numbers after every event its earlier recorders can have sent).
    pub fn number_from(&mut self, sid: Uuid, next: u64) {
        let log = self.log(sid);
        log.next = log.next.max(next);
    }

    /// Writes a new event for every endpoint, then the session's log; `None` if a once-only
    /// event was emitted already. `make` builds (id, body) from the event's number.
    pub fn add(
        &mut self,
        sid: Uuid,
        kind: &str,
        once: Option<&str>,
        now_ms: i64,
        make: impl FnOnce(u64) -> (String, String),
    ) -> io::Result<Option<u64>> {
        let log = self.log(sid);
        if once.is_some_and(|key| log.once.contains(key)) {
            return Ok(None);
        }
        let seq = log.next;
        let (id, body) = make(seq);
        let pending = Pending {
            id,
            sid,
            seq,
            kind: kind.to_owned(),
            body,
            created_ms: now_ms,
            attempts: 0,
            next_attempt_ms: now_ms,
            last_error: None,
            scheduled_ms: None,
        };
        for endpoint in 0..self.keys.len() {
            let path = self.event_path(endpoint, sid, seq);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            write_atomically(&path, &serde_json::to_vec(&pending)?)?;
        }
        // Durable now: queued whatever happens to the log (a restart recounts from the files).
        for queue in &mut self.queues {
            queue
                .by_session
                .entry(sid)
                .or_default()
                .push_back(pending.clone());
        }
        let log = self.log(sid);
        log.next = seq + 1;
        if let Some(key) = once {
            log.once.insert(key.to_owned());
        }
        let bytes = serde_json::to_vec(&*log)?;
        if let Err(e) = write_atomically(&self.session_path(sid), &bytes) {
            tracing::warn!(%sid, error = %e, "cannot save a session's webhook counter; its events are queued");
        }
        Ok(Some(seq))
    }

    /// Up to `max` sessions' oldest events that are due (marked running), and when the next
    /// one is due otherwise.
    pub fn due(&mut self, endpoint: usize, now_ms: i64, max: usize) -> (Vec<Pending>, Option<i64>) {
        let queue = &mut self.queues[endpoint];
        if queue.disabled.is_some() {
            return (Vec::new(), None);
        }
        let mut due = Vec::new();
        let mut next = None::<i64>;
        for (sid, events) in &queue.by_session {
            let Some(head) = events.front() else { continue };
            if queue.running.contains(sid) {
                continue;
            }
            if head.next_attempt_ms <= now_ms {
                due.push(head.clone());
            } else {
                next = Some(next.map_or(head.next_attempt_ms, |n| n.min(head.next_attempt_ms)));
            }
        }
        // The longest-waiting first; the rest at the next round (no session starves).
        due.sort_by_key(|p| p.next_attempt_ms);
        if due.len() > max {
            next = Some(now_ms);
            due.truncate(max);
        }
        for p in &due {
            queue.running.insert(p.sid);
        }
        (due, next)
    }

    /// The endpoint confirmed `p`: its file goes, the session's next event is due. If it had
    /// been failing, it is back: every session waiting for its next attempt is due now (a
    /// receiver that returns gets its backlog at once, not at each event's next retry).
    pub fn delivered(&mut self, endpoint: usize, p: &Pending, now_ms: i64) {
        let path = self.event_path(endpoint, p.sid, p.seq);
        let _ = fs::remove_file(&path);
        if let Some(dir) = path.parent() {
            let _ = fs::remove_dir(dir);
        }
        let queue = &mut self.queues[endpoint];
        queue.delivered += 1;
        pop(queue, p);
        if queue.last_error.take().is_some() {
            for head in queue
                .by_session
                .values_mut()
                .filter_map(VecDeque::front_mut)
            {
                if head.next_attempt_ms > now_ms && head.scheduled_ms.is_none() {
                    head.scheduled_ms = Some(head.next_attempt_ms);
                    head.next_attempt_ms = now_ms;
                }
            }
        }
    }

    /// An attempt failed: retried after `wait_ms`, or (`None`: the schedule is over) given up
    /// and kept aside in `dead/`.
    pub fn failed(
        &mut self,
        endpoint: usize,
        p: &Pending,
        error: String,
        now_ms: i64,
        wait_ms: Option<i64>,
    ) {
        let path = self.event_path(endpoint, p.sid, p.seq);
        let dead = self.dir.join(&self.keys[endpoint]).join("dead");
        let queue = &mut self.queues[endpoint];
        queue.failed += 1;
        queue.last_error = Some(error.clone());
        queue.running.remove(&p.sid);
        let Some(head) = queue
            .by_session
            .get_mut(&p.sid)
            .and_then(VecDeque::front_mut)
        else {
            return;
        };
        head.last_error = Some(error);
        if let Some(scheduled) = head.scheduled_ms.take() {
            // An early attempt (the endpoint came back for others): back to its schedule.
            head.next_attempt_ms = scheduled;
            return;
        }
        head.attempts += 1;
        match wait_ms {
            Some(wait) => {
                head.next_attempt_ms = now_ms + wait;
                let bytes = serde_json::to_vec(&*head).unwrap_or_default();
                let _ = write_atomically(&path, &bytes);
            }
            None => {
                let bytes = serde_json::to_vec(&*head).unwrap_or_default();
                let _ = fs::create_dir_all(&dead);
                let _ =
                    write_atomically(&dead.join(format!("{}-{:010}.json", p.sid, p.seq)), &bytes);
                let _ = fs::remove_file(&path);
                queue.dead += 1;
                pop(queue, p);
            }
        }
    }

    /// 410 Gone: the endpoint takes nothing until re-enabled; the event stays first in line.
    pub fn gone(&mut self, endpoint: usize, p: &Pending, reason: String) {
        let _ = write_atomically(
            &self.dir.join(&self.keys[endpoint]).join("disabled"),
            reason.as_bytes(),
        );
        let queue = &mut self.queues[endpoint];
        queue.running.remove(&p.sid);
        queue.last_error = Some(reason.clone());
        queue.disabled = Some(reason);
    }

    /// Re-enables a disabled endpoint; true if it was disabled.
    pub fn enable(&mut self, endpoint: usize) -> bool {
        let _ = fs::remove_file(self.dir.join(&self.keys[endpoint]).join("disabled"));
        self.queues[endpoint].disabled.take().is_some()
    }
}

fn pop(queue: &mut Queue, p: &Pending) {
    queue.running.remove(&p.sid);
    if let Some(events) = queue.by_session.get_mut(&p.sid) {
        if events.front().is_some_and(|h| h.seq == p.seq) {
            events.pop_front();
        }
        if events.is_empty() {
            queue.by_session.remove(&p.sid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(dir: &Path) -> Outbox {
        Outbox::load(dir, vec!["ep".into()]).unwrap()
    }

    fn add(o: &mut Outbox, sid: Uuid, once: Option<&str>) -> Option<u64> {
        o.add(sid, "t", once, 0, |seq| (format!("id{seq}"), "{}".into()))
            .unwrap()
    }

    #[test]
    fn a_session_goes_in_order_once_only_events_once_and_everything_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut o = outbox(dir.path());
        assert_eq!(add(&mut o, a, Some("started")), Some(0));
        assert_eq!(add(&mut o, a, Some("started")), None);
        assert_eq!(add(&mut o, a, None), Some(1));
        assert_eq!(add(&mut o, b, None), Some(0));
        // Only each session's oldest is due.
        let (due, _) = o.due(0, 0, 8);
        assert_eq!(due.len(), 2);
        assert!(due.iter().all(|p| p.seq == 0));
        drop(o);
        let mut o = outbox(dir.path());
        assert_eq!(o.queues[0].pending(), 3);
        assert_eq!(
            add(&mut o, a, Some("started")),
            None,
            "the once-key survives"
        );
        assert_eq!(add(&mut o, a, None), Some(2), "numbers are never reused");
    }

    #[test]
    fn a_returning_endpoint_pulls_the_backlog_forward_without_using_up_its_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut o = outbox(dir.path());
        add(&mut o, a, None);
        add(&mut o, b, None);
        let (due, _) = o.due(0, 0, 8);
        for p in &due {
            o.failed(0, p, "HTTP 503".into(), 0, Some(300_000));
        }
        let (due, next) = o.due(0, 1_000, 8);
        assert!(due.is_empty());
        assert_eq!(next, Some(300_000));
        // A new event of a new session gets through: the others are due at once.
        let c = Uuid::new_v4();
        add(&mut o, c, None);
        let (due, _) = o.due(0, 1_000, 8);
        assert_eq!(due.len(), 1);
        o.delivered(0, &due[0], 1_000);
        let (due, _) = o.due(0, 1_000, 8);
        assert_eq!(due.len(), 2);
        // One of them fails again early: back to its schedule, its count unchanged.
        o.failed(0, &due[0], "HTTP 400".into(), 1_000, Some(1_800_000));
        let head = o.queues[0].by_session[&due[0].sid].front().unwrap();
        assert_eq!((head.attempts, head.next_attempt_ms), (1, 300_000));
    }
}
