//! Webhook figures (issue 16), on loopback with the recorder's own outbox and delivery loop and
//! an in-process receiver:
//! - delivery latency: from the call that writes an event (synced to disk) to the receiver
//!   having it, p50 and p99 over 500 events, one at a time;
//! - backlog drain: 10 sessions x 100 events written while the receiver answers 503, then the
//!   time until every one has arrived, in order, once it answers 200.
//!
//! `cargo bench -p recorder-svc --bench webhooks` (part of `make bench`).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use recorder_svc::metrics::Metrics;
use recorder_svc::webhooks::{EventType, Events, WebhookSettings, Webhooks};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

#[derive(Default)]
struct Received {
    at: Mutex<HashMap<String, Instant>>,
    order: Mutex<Vec<(Uuid, u64)>>,
    status: AtomicU16,
}

async fn hook(req: HttpRequest, body: web::Bytes, seen: web::Data<Received>) -> HttpResponse {
    let status = seen.status.load(Ordering::SeqCst);
    if status == 200 {
        let id = req
            .headers()
            .get("webhook-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let sid = Uuid::parse_str(event["data"]["sid"].as_str().unwrap()).unwrap();
        seen.order
            .lock()
            .unwrap()
            .push((sid, event["data"]["seq"].as_u64().unwrap()));
        seen.at.lock().unwrap().insert(id, Instant::now());
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let seen = web::Data::new(Received::default());
        seen.status.store(200, Ordering::SeqCst);
        let data = seen.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/hook", web::post().to(hook))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        let dir = tempfile::tempdir().unwrap();
        let settings = WebhookSettings {
            urls: vec![format!("http://127.0.0.1:{port}/hook")],
            secrets: vec![SecretString::from(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
            )],
            retry: vec![Duration::from_secs(1); 20],
            timeout: Duration::from_secs(10),
        };
        let metrics = Metrics::default();
        let events = Events::new(Some(
            Webhooks::start(&settings, dir.path(), metrics.webhooks.clone()).unwrap(),
        ));

        // Latency, one event at a time.
        let sid = Uuid::new_v4();
        let mut ms = Vec::new();
        for n in 0..500 {
            let before = seen.at.lock().unwrap().len();
            let at = Instant::now();
            let e = events.clone();
            tokio::task::spawn_blocking(move || {
                e.emit_blocking(sid, EventType::ParticipantJoined, json!({"uid": n}));
            })
            .await
            .unwrap();
            while seen.at.lock().unwrap().len() == before {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            ms.push(at.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "delivery latency (event written and synced -> received), 500 events: p50 {:.2} ms, p99 {:.2} ms",
            percentile(&ms, 0.5),
            percentile(&ms, 0.99)
        );

        // Backlog: 10 sessions x 100 events while the receiver refuses.
        seen.status.store(503, Ordering::SeqCst);
        seen.order.lock().unwrap().clear();
        let sessions: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
        let e = events.clone();
        let list = sessions.clone();
        let written = Instant::now();
        tokio::task::spawn_blocking(move || {
            for n in 0..100 {
                for sid in &list {
                    e.emit_blocking(*sid, EventType::ParticipantJoined, json!({"uid": n}));
                }
            }
        })
        .await
        .unwrap();
        println!(
            "backlog: 1000 events written in {:.2} s (each synced to disk)",
            written.elapsed().as_secs_f64()
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        seen.status.store(200, Ordering::SeqCst);
        let back = Instant::now();
        while seen.order.lock().unwrap().len() < 1000 {
            assert!(back.elapsed() < Duration::from_secs(300), "backlog not drained");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let drained = back.elapsed().as_secs_f64();
        let order = seen.order.lock().unwrap().clone();
        let in_order = sessions.iter().all(|sid| {
            let seqs: Vec<u64> = order.iter().filter(|(s, _)| s == sid).map(|(_, q)| *q).collect();
            seqs.windows(2).all(|w| w[0] < w[1]) && seqs.len() == 100
        });
        println!(
            "backlog drained: 1000 events in {drained:.2} s after the receiver returned ({:.0} events/s; the first retry comes within 1 s here); in order per session: {in_order}",
            1000.0 / drained
        );
    });
}
