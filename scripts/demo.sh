#!/usr/bin/env bash
# `make demo`: records a scripted local call end to end, no Agora account needed. Two speech
# samples (espeak-ng) are played by the Agora stand-in as remote WebRTC participants; the real
# gateway and recorder record them into demo/recordings/*.wav.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${DEMO_DIR:-$ROOT/demo}
GW=127.0.0.1:18801
REC=127.0.0.1:18802
rm -rf "$OUT" && mkdir -p "$OUT"
SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

cargo build -q -p api-gateway -p recorder-svc

espeak-ng -v en-us -s 150 -w "$OUT/alice.wav" "Hello Bob, this is Alice. The recorder is listening to our call, invisibly."
espeak-ng -v en-gb -s 140 -p 30 -w "$OUT/bob.wav" "Hi Alice. I can hear you fine. Let us see what ends up in the file."
alice="data:audio/wav;base64,$(base64 -w0 "$OUT/alice.wav")"
bob="data:audio/wav;base64,$(base64 -w0 "$OUT/bob.wav")"
{
  cat crates/recorder-svc/tests/standin/agora-standin.js
  cat <<JS
AgoraRTC.__standin.configure({"channels": {"*": {"participants": [
  {"uid": 1001, "joinAt": 0, "publishAt": 0, "speech": [{"from": 500, "to": 7000}],
   "audio": {"type": "wav", "dataUrl": "$alice"}},
  {"uid": 1002, "joinAt": 1000, "publishAt": 1200, "speech": [{"from": 7000, "to": 14000}],
   "audio": {"type": "wav", "dataUrl": "$bob"}}
]}}});
JS
} > "$OUT/agora-standin-demo.js"

env -i PATH="$PATH" HOME="${HOME:-/tmp}" MEMHARBOR_SECRET_KEY="$SECRET" \
  RECORDER_HTTP_ADDR=$REC RECORDER_RECORDINGS_DIR="$OUT/recordings" \
  RECORDER_AGORA_SDK="$OUT/agora-standin-demo.js" RECORDER_GATEWAY_URL=http://$GW \
  RECORDER_CHROMIUM_EXTRA_ARGS="--allow-loopback-in-peer-connection --disable-features=WebRtcHideLocalIpsWithMdns --use-fake-ui-for-media-stream --use-fake-device-for-media-stream" \
  target/debug/recorder-svc > "$OUT/recorder.log" 2>&1 &
pids+=($!)
env -i PATH="$PATH" MEMHARBOR_SECRET_KEY="$SECRET" MEMHARBOR_HTTP_ADDR=$GW MEMHARBOR_LOG_DIR="$OUT/logs" \
  AGORA_APP_ID=0123456789abcdef0123456789abcdef AGORA_APP_CERT=fedcba9876543210fedcba9876543210 \
  RECORDER_URL=http://$REC target/debug/api-gateway > "$OUT/gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://$GW/api/health" | grep -q '"recorder":"ok"' && break; sleep 0.1; done

echo "== POST /api/recording/start"
curl -s -X POST "http://$GW/api/recording/start" -H 'Content-Type: application/json' \
  -d '{"channel": "demo_alice_bob", "speakers": true}'
echo; echo "   recording a 15-second scripted call…"
sleep 5
echo "== GET /api/recording/status"
curl -s "http://$GW/api/recording/status"; echo
sleep 10
echo "== POST /api/recording/stop"
body=$(curl -s -X POST "http://$GW/api/recording/stop" -H 'Content-Type: application/json' -d '{"channel": "demo_alice_bob"}')
echo "$body"
echo
echo "Recorded files (16 kHz mono 16-bit WAV: the mix, then one per speaker):"
ls -l "$OUT"/recordings/*.wav
command -v aplay >/dev/null && echo "play it: aplay $(ls "$OUT"/recordings/demo_alice_bob_*.wav | head -1)"
echo "request log: $OUT/logs/api.log"
