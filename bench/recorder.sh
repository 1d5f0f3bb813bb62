#!/usr/bin/env bash
# Recorder benchmarks: stop latency after 1 and 60 minutes (audio fed faster than real time), and
# CPU / memory / clean-audio limits for N concurrent stand-in sessions. Figures: bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p recorder-svc --bench stop_latency
cargo run --profile bench -q -p memharbor-testkit --example recorder_load
# Issue 17's sizing figures: participants sent from a browser of their own, one and two speakers.
LOAD_CALLERS=outside cargo run --profile bench -q -p memharbor-testkit --example recorder_load -- 6 10
LOAD_CALLERS=outside LOAD_SPEAKERS=2 cargo run --profile bench -q -p memharbor-testkit --example recorder_load -- 6 10 12
# The per-core limit with the callers on a core of their own (needs 2 cores or more).
LOAD_CALLERS_CPUS=1 LOAD_CALLERS=outside LOAD_SPEAKERS=2 taskset -c 0 \
  cargo run --profile bench -q -p memharbor-testkit --example recorder_load -- 4 5 6
scripts/setup-tools.sh
cargo run --release -q -p memharbor-testkit --example upload_bench
