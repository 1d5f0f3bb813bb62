//! In-process token build time, 006 and 007 (targets: 006 ≤ 1 µs, 007 ≤ 10 µs).

use agora_token::{AppCertificate, AppId, Identity, Role, RtcTokenBuilder, TokenRequest, Version};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let identity = Identity::Uid(12345);
    for version in [Version::V006, Version::V007] {
        let builder = RtcTokenBuilder::new(
            version,
            AppId::new("970CA35de60c44645bbae8a215061b33").expect("valid App ID"),
            AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").expect("valid certificate"),
        );
        let mut salt = 1u32;
        c.bench_function(&format!("build_{version}"), |b| {
            b.iter(|| {
                salt = salt.wrapping_add(1);
                builder.build(black_box(&TokenRequest {
                    channel: "group1_alice_bob",
                    identity: &identity,
                    role: Role::Publisher,
                    issued_at: 1_770_260_182,
                    expire: 86_400,
                    salt,
                }))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
