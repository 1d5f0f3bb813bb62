//! Ops endpoints on the recorder's port: liveness, readiness, and `/status` with every session.

use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, ResponseError as _, web};
use serde_json::{Value, json};

use super::RecorderState;
use crate::audio::protocol::StreamId;

pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The gateway's authenticated health check (behind the internal key, unlike `/livez`): it proves
/// the two services share `MEMHARBOR_SECRET_KEY`.
pub async fn ping() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `POST /internal/drain` (`{"draining": false}` undoes it): take no new sessions, so placement
/// skips this recorder; the running ones go on (and finish as usual).
pub async fn drain(state: web::Data<RecorderState>, body: web::Bytes) -> HttpResponse {
    // No body, `null` or `{}` drain; `{"draining": false}` undoes it.
    let draining = if body.iter().all(u8::is_ascii_whitespace) {
        Some(true)
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Null) => Some(true),
            Ok(Value::Object(o)) => match o.get("draining") {
                None => Some(true),
                Some(v) => v.as_bool(),
            },
            _ => None,
        }
    };
    let Some(draining) = draining else {
        return crate::error::RecorderError::bad_request(
            "invalid_draining",
            Some("draining"),
            "send no body (drain), or {\"draining\": true|false}",
        )
        .error_response();
    };
    state.sessions.set_draining(draining);
    tracing::info!(draining, "drain requested");
    if draining && state.cluster.is_some() {
        // Cluster mode: every session moves to another recorder with room (the others go on here).
        let sessions = state.sessions.clone();
        tokio::spawn(async move {
            let left = sessions.hand_over_all().await;
            tracing::info!(left = left.len(), "drain: sessions handed over");
        });
    }
    HttpResponse::Ok().json(json!({
        "draining": draining,
        "activeSessions": state.sessions.count(),
    }))
}

/// `POST /internal/webhooks/enable` (`{"endpoint": "<key from /status>"}`, or no body for
/// every one): an endpoint disabled by a 410 Gone takes deliveries again, from where it stopped.
pub async fn enable_webhooks(state: web::Data<RecorderState>, body: web::Bytes) -> HttpResponse {
    let Some(webhooks) = state.sessions.context().events.webhooks() else {
        return crate::error::RecorderError::bad_request(
            "webhooks_off",
            None,
            "no webhook is configured (MEMHARBOR_WEBHOOK_URLS)",
        )
        .error_response();
    };
    let endpoint = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("endpoint").and_then(Value::as_str).map(str::to_owned))
        {
            Some(key) if webhooks.knows(&key) => Some(key),
            _ => {
                return crate::error::RecorderError::bad_request(
                    "invalid_endpoint",
                    Some("endpoint"),
                    "send no body (every endpoint), or {\"endpoint\": \"<key>\"} with a key from /status",
                )
                .error_response();
            }
        }
    };
    let enabled = webhooks.enable(endpoint.as_deref());
    tracing::info!(enabled, "webhook endpoints re-enabled");
    HttpResponse::Ok().json(json!({ "enabled": enabled }))
}

/// Ready while it can serve: stop, status, lists and downloads work whether or not the recorder
/// is full, so a full recorder stays ready (a start then answers 503 `at_capacity` itself, and
/// the body says `full`). A shutting-down or draining recorder is not ready (load balancers and
/// placement skip it).
pub async fn readyz(state: web::Data<RecorderState>) -> HttpResponse {
    let accepting = state.sessions.is_accepting();
    let draining = state.sessions.is_draining();
    let active = state.sessions.count();
    let full = active >= state.max_sessions;
    let ready = accepting && !draining;
    let body = json!({
        "status": if !accepting { "shutting_down" } else if draining { "draining" } else { "ready" },
        "full": full,
        "activeSessions": active,
        "maxSessions": state.max_sessions,
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Everything an operator wants to see at once, as JSON.
/// The ops page (self-contained HTML that refreshes itself from this same route).
const OPS_PAGE: &str = include_str!("../../web/ops/ops.html");

/// Everything an operator wants to see at once: JSON, or the ops page for a browser
/// (`Accept: text/html`).
pub async fn status(state: web::Data<RecorderState>, req: actix_web::HttpRequest) -> HttpResponse {
    let wants_html = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        return HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("cache-control", "no-store"))
            .body(OPS_PAGE);
    }
    HttpResponse::Ok().json(status_json(&state))
}

/// Prometheus metrics; gauges are read from the service's state now.
pub async fn metrics(state: web::Data<RecorderState>) -> HttpResponse {
    let m = &state.metrics;
    m.sessions_active
        .set(i64::try_from(state.sessions.count()).unwrap_or(i64::MAX));
    if let Some(free) = crate::storage::disk::free_bytes(&state.recordings_dir) {
        m.disk_free_bytes
            .set(i64::try_from(free).unwrap_or(i64::MAX));
    }
    if let Some(q) = state.store.upload_summary() {
        m.upload_queue_depth
            .set(i64::try_from(q.pending + q.uploading + q.refused).unwrap_or(i64::MAX));
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(m.encode())
}

pub fn status_json(state: &RecorderState) -> Value {
    let sessions: Vec<Value> = state
        .sessions
        .all()
        .iter()
        .map(|h| {
            h.with_live(|live| {
                let audio = live.audio.as_ref();
                // The mix's level from the recording itself; each speaker's from the page.
                let mut levels: serde_json::Map<String, Value> = audio
                    .map(|a| a.levels())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(stream, _)| *stream == StreamId::Mix)
                    .map(|(_, level)| ("mix".to_owned(), json!(level)))
                    .collect();
                for (uid, level) in &live.speaker_levels {
                    levels.insert(uid.clone(), json!(level));
                }
                json!({
                    "sid": h.sid,
                    "channel": h.channel.as_str(),
                    "phase": live.phase,
                    "filename": live.filename,
                    "startedAt": live.started_at.map(crate::record::iso_ms),
                    "durationMs": audio.map_or(0, |a| a.mix_samples.load(Ordering::Relaxed) / 16),
                    "participants": live.participants,
                    "speakers": h.speakers,
                    "rejoins": live.rejoins,
                    "levels": levels,
                    "audio": audio.map(|a| json!({
                        "missingChunks": a.missing_chunks.load(Ordering::Relaxed),
                        "lateChunks": a.late_chunks.load(Ordering::Relaxed),
                        "badChunks": a.bad_chunks.load(Ordering::Relaxed),
                        "gapMs": a.gap_ticks.load(Ordering::Relaxed) / 48,
                        "lateAudioMs": a.late_frames.load(Ordering::Relaxed) / 48,
                        "writeErrors": a.write_errors.load(Ordering::Relaxed),
                        "futureChunks": a.future_chunks.load(Ordering::Relaxed),
                    })),
                    "history": live.history,
                })
            })
        })
        .collect();
    json!({
        "status": if !state.sessions.is_accepting() {
            "shutting_down"
        } else if state.sessions.is_draining() {
            "draining"
        } else {
            "ok"
        },
        "cluster": state.cluster.as_ref().map(|c| c.status()),
        "continuity": state.sessions.context().continuity.as_ref().map(|c| {
            let mut status = c.status();
            status["pendingAssemblies"] = json!(pending_assemblies(&state.store));
            status
        }),
        "webhooks": state.sessions.context().events.webhooks().map(|w| w.status()),
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeS": state.started.elapsed().as_secs(),
        "capacity": {"maxSessions": state.max_sessions, "activeSessions": sessions.len()},
        "disk": {
            "freeBytes": crate::storage::disk::free_bytes(&state.recordings_dir),
            "minFreeBytes": state.sessions.context().settings.min_free_bytes,
        },
        "sessions": sessions,
        "browsers": state.pool.status(),
        "recordings": {"count": state.store.index.len()},
        "uploads": state
            .store
            .upload_summary()
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or(Value::Null),
    })
}

/// Recordings of several segments still waiting for one (its recorder is away).
fn pending_assemblies(store: &crate::storage::Store) -> Vec<Value> {
    store
        .index
        .all()
        .iter()
        .filter_map(|r| {
            let assembly = r.body.assembly.as_ref()?;
            (assembly.state == crate::record::AssemblyState::Pending)
                .then(|| json!({"sid": r.body.sid, "missing": assembly.missing}))
        })
        .collect()
}
