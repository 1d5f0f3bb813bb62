//! Callers mode for the Agora stand-in: participants' audio is sent from ANOTHER browser, as
//! Agora's servers would deliver it, so that a recorder's CPU figures hold its own work only (not
//! the senders' Opus encoders and audio sources). [`Callers::start`] runs a signalling relay (HTTP
//! on loopback, in memory) and a headless Chromium of its own on the relay's callers page; a
//! scenario with `"callers": {"url": relay}` makes every recorder page subscribe through it.
//!
//! The relay (JSON; CORS open to any origin: the pages live on other loopback ports). Long polls
//! hold up to 20 s and answer 204 when nothing came; the client asks again.
//! - `POST /links` `{channel, uid, participant, wall0}` → `{id}`: a recorder page wants a
//!   participant's audio (`wall0`: Unix ms of its time 0).
//! - `GET /links/changes?after=SEQ` (long poll) → `{seq, opened: [link], closed: [id]}`: the
//!   callers page's one feed; a link is its `POST /links` body plus its `id`.
//! - `POST /links/{id}/offer` (the callers page), `POST /links/{id}/answer` (the recorder page):
//!   a session description; `GET` either (long poll) → it. 404: no such link, 410: closed.
//! - `POST /links/{id}/close`: either side, once it is over.
//! - `GET /callers`: the callers page; `GET /agora-standin.js`: the stand-in, read from disk.
//!
//! No trickled ICE candidates: each description carries its 127.0.0.1 candidates. Chromium opens
//! at most 6 connections per host, so neither browser may hold a long poll per link.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::header::ContentType;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpResponse, HttpServer, guard, web};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::watch;

/// How long a long poll waits before it answers 204.
const LONG_POLL: Duration = Duration::from_secs(20);

/// How long the callers page may take to load and ask for its first links.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The callers page: the stand-in in its callers role.
const PAGE: &str = r#"<!doctype html>
<html>
<head>
  <meta charset="utf-8">
  <title>memharbor callers</title>
</head>
<body>
  <!-- The Agora stand-in, sending every participant's audio the relay asks for. -->
  <script src="/agora-standin.js"></script>
  <script>AgoraRTC.__standin.serveCallers(location.origin);</script>
</body>
</html>
"#;

/// The callers' browser's own switches, after the recorder's (`recorder_svc::browser::SWITCHES`,
/// less DevTools: nothing drives this page): no sandbox (tests run as root), console in the log.
const OWN_ARGS: &[&str] = &["--no-sandbox", "--enable-logging=stderr", "--log-level=0"];

/// The relay and the callers' browser; both stop when this is dropped.
pub struct Callers {
    /// The relay, `http://127.0.0.1:{port}`: the scenario's `"callers": {"url": …}`.
    pub url: String,
    /// The callers' browser's `--user-data-dir` (its processes' command lines hold it).
    pub profile: PathBuf,
    /// The callers' browser's stderr, its page's console included.
    pub log: PathBuf,
    relay: web::Data<Relay>,
    server: ServerHandle,
    browser: Child,
    _dir: TempDir,
}

impl Callers {
    /// Starts the relay and the callers' browser, and waits until its page asks for links.
    pub async fn start() -> Self {
        let (url, relay, server) = serve();
        let dir = tempfile::tempdir().expect("a temporary folder");
        let profile = dir.path().join("profile");
        let log = dir.path().join("chromium.log");
        let browser = launch(&format!("{url}/callers"), &profile, &log);
        let callers = Self {
            url,
            profile,
            log,
            relay,
            server,
            browser,
            _dir: dir,
        };
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        while !callers.relay.lock().callers_polled {
            if tokio::time::Instant::now() >= deadline {
                // The log goes with the temporary folder: show it.
                let log = std::fs::read_to_string(&callers.log).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                panic!("the callers page did not start; its browser said:\n{tail}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        callers
    }

    /// The scenario's `callers` entry: `{"url": relay}`.
    pub fn scenario(&self) -> Value {
        json!({"url": self.url})
    }

    /// Links opened so far, and how many of them are still open.
    pub fn links(&self) -> (usize, usize) {
        let state = self.relay.lock();
        let open = state.links.iter().filter(|l| !l.closed).count();
        (state.links.len(), open)
    }
}

impl Drop for Callers {
    fn drop(&mut self) {
        let _ = self.browser.kill();
        let _ = self.browser.wait();
        // The stop command is sent by the call; its completion is not awaited.
        drop(self.server.stop(false));
    }
}

/// Starts Chromium on `url` with a fresh profile; its renderers end with it.
fn launch(url: &str, profile: &std::path::Path, log: &std::path::Path) -> Child {
    let chromium = recorder_svc::settings::find_chromium()
        .expect("Chromium installed (make test installs it)");
    let stderr = std::fs::File::create(log).expect("the callers' browser log");
    Command::new(chromium)
        .args(
            recorder_svc::browser::SWITCHES
                .iter()
                .filter(|a| **a != "--remote-debugging-pipe"),
        )
        .args(OWN_ARGS)
        .args(crate::STANDIN_ARGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("Chromium starts")
}

// ---------------------------------------------------------------------------------------------
// The relay
// ---------------------------------------------------------------------------------------------

/// One subscription: a recorder page receives, the callers page sends.
struct Link {
    /// The `POST /links` body with its `id`, as the callers page gets it.
    request: Value,
    offer: Option<Value>,
    answer: Option<Value>,
    closed: bool,
}

impl Link {
    fn description(&mut self, kind: &str) -> Option<&mut Option<Value>> {
        match kind {
            "offer" => Some(&mut self.offer),
            "answer" => Some(&mut self.answer),
            _ => None,
        }
    }
}

/// The change feed's entries (link ids).
enum Change {
    Opened(usize),
    Closed(usize),
}

#[derive(Default)]
struct State {
    /// Link `id` is at `id - 1`.
    links: Vec<Link>,
    /// What the feed tells the callers page, in order; `seq` is a position in it.
    changes: Vec<Change>,
    /// The callers page has asked for links (it is up).
    callers_polled: bool,
}

impl State {
    fn link(&mut self, id: usize) -> Option<&mut Link> {
        self.links.get_mut(id.checked_sub(1)?)
    }

    /// The feed after `after`: links opened since (and not closed already), links closed since.
    fn feed(&self, after: usize) -> Value {
        let (mut opened, mut closed) = (Vec::new(), Vec::new());
        for change in &self.changes[after..] {
            match *change {
                Change::Opened(id) => {
                    if let Some(link) = self.links.get(id - 1)
                        && !link.closed
                    {
                        opened.push(link.request.clone());
                    }
                }
                Change::Closed(id) => closed.push(id),
            }
        }
        json!({"seq": self.changes.len(), "opened": opened, "closed": closed})
    }
}

struct Relay {
    state: Mutex<State>,
    /// Bumped by every change; long polls wait for it.
    version: watch::Sender<u64>,
}

impl Relay {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("relay state")
    }

    /// Changes the state and wakes the long polls.
    fn update<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        let out = change(&mut self.lock());
        self.version.send_modify(|v| *v += 1);
        out
    }

    /// What `ready` finds in the state, waiting for changes up to [`LONG_POLL`]; `None` if nothing.
    async fn wait<T>(&self, mut ready: impl FnMut(&mut State) -> Option<T>) -> Option<T> {
        let mut changed = self.version.subscribe();
        let deadline = tokio::time::Instant::now() + LONG_POLL;
        loop {
            let found = ready(&mut self.lock());
            if found.is_some() {
                return found;
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }
}

type Shared = web::Data<Relay>;

/// Starts the relay on a free loopback port: its URL, its state, its handle.
fn serve() -> (String, Shared, ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    let relay = web::Data::new(Relay {
        state: Mutex::new(State::default()),
        version: watch::Sender::new(0),
    });
    let shared = relay.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            // A participant's WAV travels inside its link, as a data URL.
            .app_data(web::JsonConfig::default().limit(64 << 20))
            .wrap(
                DefaultHeaders::new()
                    .add(("Access-Control-Allow-Origin", "*"))
                    .add(("Access-Control-Allow-Methods", "GET, POST, OPTIONS"))
                    .add(("Access-Control-Allow-Headers", "content-type"))
                    .add(("Access-Control-Max-Age", "600")),
            )
            // CORS preflights, whatever the path (a guarded resource is skipped by other methods).
            .service(
                web::resource("/{any:.*}")
                    .guard(guard::Options())
                    .to(preflight),
            )
            .route("/callers", web::get().to(callers_page))
            .route("/agora-standin.js", web::get().to(standin_js))
            .route("/links", web::post().to(open_link))
            .route("/links/changes", web::get().to(changes))
            .route("/links/{id}/close", web::post().to(close_link))
            .route("/links/{id}/{kind}", web::post().to(post_description))
            .route("/links/{id}/{kind}", web::get().to(get_description))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("the relay listens")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (url, relay, handle)
}

/// The headers (`DefaultHeaders` above) are the answer.
async fn preflight() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

async fn callers_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(PAGE)
}

/// Read at each request: the page always gets the stand-in as it is on disk.
async fn standin_js() -> HttpResponse {
    match std::fs::read_to_string(crate::standin_path()) {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/javascript; charset=utf-8")
            .body(text),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

async fn open_link(relay: Shared, body: web::Json<Value>) -> HttpResponse {
    let Value::Object(mut request) = body.into_inner() else {
        return HttpResponse::BadRequest().body("expected {channel, uid, participant, wall0}");
    };
    let id = relay.update(|s| {
        let id = s.links.len() + 1;
        request.insert("id".to_owned(), json!(id));
        s.links.push(Link {
            request: Value::Object(request),
            offer: None,
            answer: None,
            closed: false,
        });
        s.changes.push(Change::Opened(id));
        id
    });
    HttpResponse::Ok().json(json!({"id": id}))
}

async fn changes(relay: Shared, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let after: usize = query.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    relay.lock().callers_polled = true;
    let feed = relay
        .wait(|s| {
            // A position past the end (another relay's) starts from the beginning.
            let after = if after > s.changes.len() { 0 } else { after };
            (s.changes.len() > after).then(|| s.feed(after))
        })
        .await;
    feed.map_or_else(
        || HttpResponse::NoContent().finish(),
        |f| HttpResponse::Ok().json(f),
    )
}

async fn post_description(
    relay: Shared,
    path: web::Path<(usize, String)>,
    body: web::Json<Value>,
) -> HttpResponse {
    let (id, kind) = path.into_inner();
    let description = body.into_inner();
    relay.update(|s| match s.link(id) {
        Some(link) if link.closed => HttpResponse::Gone().finish(),
        Some(link) => match link.description(&kind) {
            Some(slot) => {
                *slot = Some(description);
                HttpResponse::NoContent().finish()
            }
            None => HttpResponse::NotFound().finish(),
        },
        None => HttpResponse::NotFound().finish(),
    })
}

async fn get_description(relay: Shared, path: web::Path<(usize, String)>) -> HttpResponse {
    let (id, kind) = path.into_inner();
    let found = relay
        .wait(|s| match s.link(id) {
            Some(link) if link.closed => Some(HttpResponse::Gone().finish()),
            Some(link) => match link.description(&kind) {
                Some(slot) => slot.clone().map(|d| HttpResponse::Ok().json(d)),
                None => Some(HttpResponse::NotFound().finish()),
            },
            None => Some(HttpResponse::NotFound().finish()),
        })
        .await;
    found.unwrap_or_else(|| HttpResponse::NoContent().finish())
}

async fn close_link(relay: Shared, path: web::Path<usize>) -> HttpResponse {
    let id = path.into_inner();
    relay.update(|s| {
        let Some(link) = s.link(id) else {
            return HttpResponse::NotFound().finish();
        };
        if !link.closed {
            link.closed = true;
            s.changes.push(Change::Closed(id));
        }
        HttpResponse::NoContent().finish()
    })
}
