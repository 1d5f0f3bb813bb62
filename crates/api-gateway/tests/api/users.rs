//! Callers are people: Firebase ID tokens verified for real (RS256 signatures with a key pair of
//! the test's, its key set served by a local server the gateway fetches), and each user reaches
//! only their own channels and recordings.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_of, spawn_app_with};

pub const PROJECT: &str = "demo-memharbor";
const KEY: &[u8] = include_bytes!("fixtures/test-signing-key.pem");
const OTHER_KEY: &[u8] = include_bytes!("fixtures/other-signing-key.pem");
const PUBLIC_KEY: &[u8] = include_bytes!("fixtures/test-signing-key.pub.pem");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jwk(pem: &[u8], kid: &str) -> Jwk {
    let mut jwk =
        Jwk::from_encoding_key(&EncodingKey::from_rsa_pem(pem).unwrap(), Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk
}

/// A key set server the test controls: its keys can change, its fetches are counted.
pub struct KeySet {
    pub url: String,
    keys: Arc<std::sync::Mutex<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
}

impl KeySet {
    pub async fn start() -> KeySet {
        let keys = Arc::new(std::sync::Mutex::new(vec![jwk(KEY, "kid-1")]));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, f) = (Arc::clone(&keys), Arc::clone(&fetches));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            let (k, f) = (Arc::clone(&k), Arc::clone(&f));
            App::new().route(
                "/jwks",
                web::get().to(move || {
                    let (k, f) = (Arc::clone(&k), Arc::clone(&f));
                    async move {
                        f.fetch_add(1, Ordering::SeqCst);
                        let set = JwkSet {
                            keys: k.lock().unwrap().clone(),
                        };
                        HttpResponse::Ok()
                            .insert_header(("cache-control", "public, max-age=3600"))
                            .json(set)
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        KeySet { url, keys, fetches }
    }

    pub fn add(&self, pem: &[u8], kid: &str) {
        self.keys.lock().unwrap().push(jwk(pem, kid));
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// An ID token's claims as Firebase Auth issues them, for `uid`.
pub fn claims(uid: &str) -> Value {
    let t = now();
    json!({"iss": format!("https://securetoken.google.com/{PROJECT}"), "aud": PROJECT,
           "auth_time": t - 10, "user_id": uid, "sub": uid, "iat": t - 10, "exp": t + 3600,
           "firebase": {"identities": {}, "sign_in_provider": "password"}})
}

fn sign_with(pem: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
}

/// A valid ID token for `uid` (the test key, `kid-1`).
pub fn id_token(uid: &str) -> String {
    sign_with(KEY, "kid-1", &claims(uid))
}

/// The gateway with Firebase auth (and the API key `server-key`) against `keys`.
pub async fn users_app(
    keys: &KeySet,
    customise: impl FnOnce(&mut api_gateway::settings::Settings),
) -> TestApp {
    let url = keys.url.clone();
    spawn_app_with(move |s| {
        s.api_keys = vec![secrecy::SecretString::from("server-key".to_owned())];
        s.auth.firebase = Some(api_gateway::settings::FirebaseAuthSettings {
            project_id: PROJECT.into(),
            keys_url: url,
            user_claim: None,
            emulator: false,
            refetch_interval: Duration::from_secs(30),
        });
        customise(s);
    })
    .await
}

async fn token_with(app: &TestApp, bearer: Option<&str>, channel: &str) -> reqwest::Response {
    let mut request = app
        .http
        .post(format!("{}/api/token", app.address))
        .json(&json!({"channel": channel, "uid": 7}));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_forged_or_wrong_id_token_is_refused_with_its_own_code() {
    let keys = KeySet::start().await;
    let app = users_app(&keys, |_| {}).await;
    let channel = "g1_alice_bob";
    let r = token_with(&app, Some(&id_token("alice")), channel).await;
    assert_eq!(r.status(), 200, "a valid token opens the route");

    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims("alice");
        change(&mut c);
        c
    };
    let t = now();
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let valid = id_token("alice");
    let parts: Vec<&str> = valid.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims("carol")), parts[2]);
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("alice"))
    );
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("kid-1".into());
    let confused = jsonwebtoken::encode(
        &hs,
        &claims("alice"),
        &EncodingKey::from_secret(PUBLIC_KEY).unwrap(),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>, &str, &str)> = vec![
        ("no credentials", None, "unauthorized", "missing"),
        (
            "a wrong API key",
            Some("server-kez".into()),
            "token_malformed",
            "malformed",
        ),
        (
            "wrong aud",
            Some(sign_with(
                KEY,
                "kid-1",
                &with(&|c| c["aud"] = json!("other-project")),
            )),
            "token_wrong_audience",
            "wrong_audience",
        ),
        (
            "wrong iss",
            Some(sign_with(
                KEY,
                "kid-1",
                &with(&|c| c["iss"] = json!("https://securetoken.google.com/other")),
            )),
            "token_wrong_issuer",
            "wrong_issuer",
        ),
        (
            "expired",
            Some(sign_with(
                KEY,
                "kid-1",
                &with(&|c| {
                    c["exp"] = json!(t - 600);
                    c["iat"] = json!(t - 4200);
                }),
            )),
            "token_expired",
            "expired",
        ),
        (
            "issued in the future",
            Some(sign_with(
                KEY,
                "kid-1",
                &with(&|c| c["iat"] = json!(t + 600)),
            )),
            "token_not_yet_valid",
            "not_yet_valid",
        ),
        (
            "authenticated in the future",
            Some(sign_with(
                KEY,
                "kid-1",
                &with(&|c| c["auth_time"] = json!(t + 600)),
            )),
            "token_not_yet_valid",
            "not_yet_valid",
        ),
        (
            "unknown kid",
            Some(sign_with(KEY, "kid-unknown", &claims("alice"))),
            "token_unknown_key",
            "unknown_key",
        ),
        (
            "alg none without the emulator",
            Some(unsigned),
            "token_bad_algorithm",
            "bad_algorithm",
        ),
        (
            "HS256 keyed with the public key",
            Some(confused),
            "token_bad_algorithm",
            "bad_algorithm",
        ),
        (
            "a tampered payload",
            Some(tampered),
            "token_bad_signature",
            "bad_signature",
        ),
        (
            "signed by another key",
            Some(sign_with(OTHER_KEY, "kid-1", &claims("alice"))),
            "token_bad_signature",
            "bad_signature",
        ),
        (
            "an empty sub",
            Some(sign_with(KEY, "kid-1", &with(&|c| c["sub"] = json!("")))),
            "token_bad_subject",
            "bad_subject",
        ),
        (
            "a sub of 129 characters",
            Some(sign_with(
                KEY,
                "kid-1",
                &with(&|c| c["sub"] = json!("a".repeat(129))),
            )),
            "token_bad_subject",
            "bad_subject",
        ),
        (
            "garbage",
            Some("not.a.jwt".into()),
            "token_malformed",
            "malformed",
        ),
    ];
    for (what, bearer, code, _) in &cases {
        let r = token_with(&app, bearer.as_deref(), channel).await;
        assert_eq!(r.status(), 401, "{what}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer", "{what}");
        assert_eq!(error_of(r).await.0, *code, "{what}");
    }
    // Counted by reason, never by user.
    let metrics = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (_, _, _, reason) in &cases {
        assert!(
            metrics.contains(&format!(
                "memharbor_gateway_auth_failures_total{{reason=\"{reason}\"}}"
            )),
            "{reason} in {metrics}"
        );
    }
    assert!(!metrics.contains("alice"));
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_key_set_but_a_flood_of_them_does_not() {
    let keys = KeySet::start().await;
    let app = users_app(&keys, |s| {
        if let Some(f) = s.auth.firebase.as_mut() {
            f.refetch_interval = Duration::from_millis(500);
        }
    })
    .await;
    assert_eq!(
        token_with(&app, Some(&id_token("alice")), "g1_alice_bob")
            .await
            .status(),
        200
    );
    assert_eq!(
        keys.fetches(),
        1,
        "fetched once, then cached (max-age 3600)"
    );
    assert_eq!(
        token_with(&app, Some(&id_token("bob")), "g1_alice_bob")
            .await
            .status(),
        200
    );
    assert_eq!(keys.fetches(), 1);
    // Google rotates its keys: a token with the new kid makes the gateway look again.
    keys.add(OTHER_KEY, "kid-2");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let rotated = sign_with(OTHER_KEY, "kid-2", &claims("alice"));
    assert_eq!(
        token_with(&app, Some(&rotated), "g1_alice_bob")
            .await
            .status(),
        200
    );
    assert_eq!(keys.fetches(), 2);
    // Made-up kids, as fast as a client can send them: refused, and at most one more fetch per
    // interval, never one per request.
    for n in 0..40 {
        let bogus = sign_with(KEY, &format!("bogus-{n}"), &claims("alice"));
        let r = token_with(&app, Some(&bogus), "g1_alice_bob").await;
        assert_eq!(error_of(r).await.0, "token_unknown_key");
    }
    assert!(keys.fetches() <= 3, "{} fetches", keys.fetches());
}

#[tokio::test]
async fn a_user_gets_tokens_for_their_own_channels_only() {
    let keys = KeySet::start().await;
    let app = users_app(&keys, |_| {}).await;
    let alice = id_token("alice");
    assert_eq!(
        token_with(&app, Some(&alice), "g1_alice_bob")
            .await
            .status(),
        200
    );
    assert_eq!(
        token_with(&app, Some(&alice), "g7_bob_alice")
            .await
            .status(),
        200
    );
    for other in ["g1_carol_dave", "g1_alicia_bob", "lobby"] {
        let r = token_with(&app, Some(&alice), other).await;
        assert_eq!(r.status(), 403, "{other}");
        let (code, field, _) = error_of(r).await;
        assert_eq!(
            (code.as_str(), field.as_deref()),
            ("forbidden_channel", Some("channel"))
        );
    }
    // A trusted server (API key) and an admin user may get any channel's token.
    assert_eq!(
        token_with(&app, Some("server-key"), "g1_carol_dave")
            .await
            .status(),
        200
    );
    let admin = sign_with(KEY, "kid-1", &{
        let mut c = claims("ops");
        c["memharbor_admin"] = json!(true);
        c
    });
    assert_eq!(
        token_with(&app, Some(&admin), "g1_carol_dave")
            .await
            .status(),
        200
    );
    // api.log names the user, never the token.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(app.log_dir.path().join("api.log")).unwrap_or_default();
        if log.contains("(user alice)") {
            assert!(!log.contains(&alice[..40]), "the token is never logged");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn open_channels_and_bound_accounts_are_the_operators_choice() {
    let keys = KeySet::start().await;
    let app = users_app(&keys, |s| {
        s.auth.rules.open_channels = true;
        s.auth.rules.bind_account = true;
    })
    .await;
    let alice = id_token("alice");
    assert_eq!(token_with(&app, Some(&alice), "lobby").await.status(), 200);
    assert_eq!(
        token_with(&app, Some(&alice), "g1_carol_dave")
            .await
            .status(),
        403
    );
    let account = |name: &str| {
        app.http
            .post(format!("{}/api/token", app.address))
            .bearer_auth(&alice)
            .json(&json!({"channel": "g1_alice_bob", "user_account": name}))
            .send()
    };
    assert_eq!(account("alice").await.unwrap().status(), 200);
    let r = account("bob").await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(error_of(r).await.0, "forbidden_account");
}

#[tokio::test]
async fn token_requests_per_user_are_rate_limited_with_retry_after() {
    let keys = KeySet::start().await;
    let app = users_app(&keys, |s| s.auth.limits.tokens_per_min = 3).await;
    let alice = id_token("alice");
    for _ in 0..3 {
        assert_eq!(
            token_with(&app, Some(&alice), "g1_alice_bob")
                .await
                .status(),
            200
        );
    }
    let r = token_with(&app, Some(&alice), "g1_alice_bob").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(error_of(r).await.0, "rate_limited");
    // Another user has their own budget; a trusted server has none.
    assert_eq!(
        token_with(&app, Some(&id_token("bob")), "g1_alice_bob")
            .await
            .status(),
        200
    );
    for _ in 0..10 {
        assert_eq!(
            token_with(&app, Some("server-key"), "g1_alice_bob")
                .await
                .status(),
            200
        );
    }
}

/// Firebase's own Auth emulator (firebase-tools, installed by `make test` into .tools/), on a
/// free port, its process group killed on drop.
struct AuthEmulator {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl AuthEmulator {
    async fn start() -> AuthEmulator {
        let cli = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.tools/firebase-tools/node_modules/.bin/firebase");
        assert!(
            cli.exists(),
            "firebase-tools missing: make test installs it into .tools/"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = crate::helpers::closed_port();
        std::fs::write(
            dir.path().join("firebase.json"),
            json!({"emulators": {"auth": {"host": "127.0.0.1", "port": port},
                   "ui": {"enabled": false}, "singleProjectMode": true}})
            .to_string(),
        )
        .unwrap();
        let child = std::os::unix::process::CommandExt::process_group(
            std::process::Command::new(cli)
                .args(["emulators:start", "--only", "auth", "--project", PROJECT])
                .current_dir(dir.path())
                .env("HOME", dir.path())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
            0,
        )
        .spawn()
        .expect("firebase emulators:start runs");
        let url = format!("http://127.0.0.1:{port}");
        let emulator = AuthEmulator {
            child,
            url: url.clone(),
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        while !http
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the Auth emulator did not start"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        emulator
    }

    /// Signs a new user up; their ID token and uid, as the app would get them.
    async fn sign_up(&self, email: &str) -> (String, String) {
        let body: Value = reqwest::Client::new()
            .post(format!(
                "{}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=fake-api-key",
                self.url
            ))
            .json(
                &json!({"email": email, "password": "secret-password", "returnSecureToken": true}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            body["idToken"].as_str().unwrap().to_owned(),
            body["localId"].as_str().unwrap().to_owned(),
        )
    }
}

impl Drop for AuthEmulator {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_user_signed_in_through_firebases_auth_emulator_uses_its_real_token() {
    let emulator = AuthEmulator::start().await;
    let (token, uid) = emulator.sign_up("alice@example.com").await;
    let keys = KeySet::start().await;
    let app = users_app(&keys, |s| {
        if let Some(f) = s.auth.firebase.as_mut() {
            f.emulator = true;
        }
    })
    .await;
    let own = format!("g1_{uid}_bob");
    assert_eq!(token_with(&app, Some(&token), &own).await.status(), 200);
    assert_eq!(
        token_with(&app, Some(&token), "g1_carol_dave")
            .await
            .status(),
        403
    );
    // The same unsigned token, where the emulator is not configured: refused.
    let strict = users_app(&keys, |_| {}).await;
    let r = token_with(&strict, Some(&token), &own).await;
    assert_eq!(error_of(r).await.0, "token_bad_algorithm");
}
