#!/usr/bin/env bash
# Starts the recorder and the gateway together (release builds) and stops both on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p recorder-svc -p api-gateway
target/release/recorder-svc &
recorder=$!
target/release/api-gateway &
gateway=$!
trap 'kill -TERM $gateway $recorder 2>/dev/null; wait $gateway $recorder 2>/dev/null' INT TERM EXIT
wait -n $gateway $recorder
