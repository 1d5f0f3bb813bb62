//! The directory against Google's Firestore emulator: one winner per channel under contention,
//! liveness by Firestore's clock, fencing numbers that only grow, and a reset directory noticed
//! and restored.

use std::sync::Arc;
use std::time::Duration;

use memharbor_directory::{
    Beat, Claim, Directory, HeldSession, Member, RecordingParams, Retired, SegmentRef, Takeover,
};
use memharbor_google::Credentials;
use memharbor_google::firestore::Firestore;
use memharbor_testkit::emulators;

fn directory(url: &str, stale_after: Duration) -> Directory {
    let firestore = Firestore::new(
        reqwest::Client::new(),
        url,
        "demo-memharbor",
        Arc::new(Credentials::Emulator),
    );
    Directory::new(firestore, stale_after)
}

fn member(id: &str, incarnation: &str) -> Member {
    Member {
        id: id.into(),
        url: format!("http://{id}:3100"),
        incarnation: incarnation.into(),
        capacity: 4,
        in_use: 0,
        draining: false,
        version: "test".into(),
        sessions: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_claims_of_one_channel_have_one_winner_and_fencing_only_grows() {
    let emulator = emulators::firestore(0).await;
    let dir = Arc::new(directory(&emulator.url, Duration::from_secs(15)));
    for id in ["a", "b"] {
        dir.heartbeat(&member(id, "i1"), false).await.unwrap();
    }
    let claims = futures_util::future::join_all((0..20).map(|n| {
        let dir = Arc::clone(&dir);
        async move {
            let me = if n % 2 == 0 { "a" } else { "b" };
            let sid = format!("sid-{n}");
            let claim = dir.claim("g_u1_u2", &sid, me, "i1").await.unwrap();
            (sid, claim)
        }
    }))
    .await;
    let winners: Vec<_> = claims
        .iter()
        .filter(|(_, c)| matches!(c, Claim::Granted { .. }))
        .collect();
    assert_eq!(winners.len(), 1, "{claims:?}");
    let (winner, _) = winners[0];
    assert_eq!(winners[0].1, Claim::Granted { fencing: 1 });
    for (_, claim) in &claims {
        if let Claim::Existing { sid, .. } = claim {
            assert_eq!(sid, winner);
        } else {
            assert!(matches!(claim, Claim::Granted { .. }), "{claim:?}");
        }
    }
    // Released, the next claim takes the next fencing number; the route of each stays.
    let route = dir.session(winner).await.unwrap().unwrap();
    assert_eq!((route.channel.as_str(), route.fencing), ("g_u1_u2", 1));
    let params = RecordingParams {
        filename: "g_u1_u2_2026-02-03T12-00-00.wav".into(),
        uid: 999_999,
        speakers: true,
        app_id: "app".into(),
        started_ms: 1_770_120_000_123.0,
    };
    dir.note_recording(winner, "g_u1_u2_2026-02-03T12-00-00", &params)
        .await
        .unwrap();
    let owner = dir.channel("g_u1_u2").await.unwrap().unwrap().recorder;
    let heir = if owner == "a" { "b" } else { "a" };
    // Its owner is live: no failover; a hand-over only from the number it holds.
    let take = |how| dir.take_over("g_u1_u2", winner, heir, "i1", how);
    assert_eq!(take(Takeover::Failover).await.unwrap(), None);
    assert_eq!(
        take(Takeover::Handover { from_fencing: 7 }).await.unwrap(),
        None
    );
    let (fencing, route) = take(Takeover::Handover { from_fencing: 1 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!((fencing, route.recorder.as_str()), (2, heir));
    assert_eq!(route.recording, Some(params));
    assert_eq!(
        route.earlier,
        vec![SegmentRef {
            recorder: owner.clone(),
            fencing: 1
        }]
    );
    assert_eq!(dir.session(winner).await.unwrap().unwrap(), route);
    // The former owner, back from a crash, finds its session continued.
    assert_eq!(
        dir.retire("g_u1_u2", winner, 1).await.unwrap(),
        Retired::TakenOver {
            fencing: 2,
            recorder: heir.to_owned()
        }
    );
    // Handed back again, then released by its owner: the next claim goes on counting.
    let (fencing, _) = dir
        .take_over(
            "g_u1_u2",
            winner,
            &owner,
            "i1",
            Takeover::Handover { from_fencing: 2 },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fencing, 3);
    dir.release("g_u1_u2", winner, 3).await.unwrap();
    assert_eq!(
        dir.session_of_stem("g_u1_u2_2026-02-03T12-00-00")
            .await
            .unwrap()
            .unwrap()
            .sid,
        *winner
    );
    assert_eq!(
        dir.claim("g_u1_u2", "next", "b", "i1").await.unwrap(),
        Claim::Granted { fencing: 4 }
    );
    dir.release("g_u1_u2", "someone-else", 4).await.unwrap();
    dir.release("g_u1_u2", "next", 7).await.unwrap();
    assert!(dir.channel("g_u1_u2").await.unwrap().unwrap().active);
    dir.release("g_u1_u2", "next", 4).await.unwrap();
    assert!(!dir.channel("g_u1_u2").await.unwrap().unwrap().active);
    assert!(dir.usage().writes > 0 && dir.usage().reads > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_owner_makes_an_orphan_a_restarted_one_too_until_it_releases_its_earlier_claims() {
    let emulator = emulators::firestore(0).await;
    let dir = directory(&emulator.url, Duration::from_secs(2));
    dir.heartbeat(&member("a", "i1"), false).await.unwrap();
    assert_eq!(
        dir.claim("g_a_b", "s1", "a", "i1").await.unwrap(),
        Claim::Granted { fencing: 1 }
    );
    let members = dir.members().await.unwrap();
    assert!(members.is_live("a", "i1"));
    assert!(members.get("a").unwrap().placeable());
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let members = dir.members().await.unwrap();
    assert!(!members.get("a").unwrap().live, "{members:?}");
    assert_eq!(
        dir.claim("g_a_b", "s2", "b", "i1").await.unwrap(),
        Claim::Orphaned {
            sid: "s1".into(),
            recorder: "a".into()
        }
    );
    // Back, in the same incarnation: its claim stands again.
    dir.heartbeat(&member("a", "i1"), true).await.unwrap();
    assert!(matches!(
        dir.claim("g_a_b", "s2", "b", "i1").await.unwrap(),
        Claim::Existing { .. }
    ));
    // Restarted (a new incarnation): the old session is not "existing" until released.
    dir.heartbeat(&member("a", "i2"), true).await.unwrap();
    assert!(matches!(
        dir.claim("g_a_b", "s2", "b", "i1").await.unwrap(),
        Claim::Orphaned { .. }
    ));
    assert_eq!(dir.release_earlier_claims("a", "i2").await.unwrap(), 1);
    assert_eq!(
        dir.claim("g_a_b", "s2", "b", "i1").await.unwrap(),
        Claim::Granted { fencing: 2 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_that_lost_its_state_is_noticed_by_the_next_beat_and_claims_are_restored() {
    let emulator = emulators::firestore(0).await;
    let dir = directory(&emulator.url, Duration::from_secs(15));
    let mut a = member("a", "i1");
    assert_eq!(dir.heartbeat(&a, false).await.unwrap(), Beat::Written);
    let Claim::Granted { fencing } = dir.claim("g_x_y", "s1", "a", "i1").await.unwrap() else {
        panic!("granted expected")
    };
    a.sessions.push(HeldSession {
        sid: "s1".into(),
        channel: "g_x_y".into(),
        fencing,
    });
    assert_eq!(dir.heartbeat(&a, true).await.unwrap(), Beat::Written);
    emulator.reset_firestore().await;
    assert!(dir.channel("g_x_y").await.unwrap().is_none());
    assert_eq!(dir.heartbeat(&a, true).await.unwrap(), Beat::Restored);
    assert!(
        dir.restore_claim(&a.sessions[0], "a", "i1", Some("g_x_y_t"))
            .await
            .unwrap()
    );
    let claim = dir.channel("g_x_y").await.unwrap().unwrap();
    assert_eq!((claim.sid.as_str(), claim.fencing), ("s1", fencing));
    assert!(matches!(
        dir.claim("g_x_y", "s9", "b", "i1").await.unwrap(),
        Claim::Existing { .. }
    ));
    // A restore never overwrites someone else's newer claim.
    let mut stale = a.sessions[0].clone();
    stale.sid = "s0".into();
    assert!(!dir.restore_claim(&stale, "a", "i1", None).await.unwrap());
}
