#!/usr/bin/env bash
# POST /api/token under wrk, side by side in one run: the original Django stack, a bare actix-web
# handler (parse the JSON, answer a fixed body), and the Memharbor gateway (with its api.log).
#
#   bench/http.sh                      # wrk -t2 -c50 -d15s, 3 interleaved rounds, as bench/README.md reports
#   DURATION=5s ROUNDS=1 bench/http.sh # quicker
#   BASELINES=/path/to/baselines bench/http.sh
#
# The three servers take turns (original, bare, gateway; then again), and the table shows each
# one's median round: on a shared 2-core box single runs vary by ±10%. The regression guard:
# the gateway at >= 25x the original and p99 <= 3 ms in the same run, no non-2xx (else exit 1).
# Needs wrk and python3-venv (make bench installs them). Prints a table and writes it to
# bench/results/http-<UTC timestamp>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BASELINES=${BASELINES:-$ROOT/../shared/baselines}
DURATION=${DURATION:-15s}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-50}
LUA=$BASELINES/post_token.lua
export ORIGINAL_VENV=${ORIGINAL_VENV:-/tmp/original-venv}
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

[ -f "$LUA" ] || { echo "bench: $LUA not found (set BASELINES=)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk not installed (make bench installs it)" >&2; exit 1; }

cargo build --release -q -p api-gateway --bin api-gateway --example bare_handler --example id_token_fixture
"$BASELINES/original-django/ensure_venv.sh"

wait_for() { # url
  for _ in $(seq 1 100); do
    curl -s -o /dev/null -X POST -H 'content-type: application/json' \
      -d '{"channel":"c","uid":1}' "$1" && return 0
    sleep 0.1
  done
  echo "bench: $1 never answered" >&2; exit 1
}

run_wrk() { # name url
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$LUA" --latency "$2" > "$WORK/$1.wrk"
  cat "$WORK/$1.wrk" >> "$WORK/wrk-output.txt"
  python3 - "$1" "$WORK/$1.wrk" >> "$WORK/rows" <<'PY'
import re, sys
name, path = sys.argv[1], sys.argv[2]
text = open(path).read()
def ms(v):
    n, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
dist = text[text.index("Latency Distribution"):]
p50 = ms(re.search(r"\n\s+50%\s+(\S+)", dist).group(1))
p99 = ms(re.search(r"\n\s+99%\s+(\S+)", dist).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
errors = re.search(r"Socket errors:.*", text)
total = int(re.search(r"(\d+) requests in", text).group(1))
print(f"{name}\t{rps:.0f}\t{p50:.2f}\t{p99:.2f}\t{non2xx.group(1) if non2xx else 0}\t{errors.group(0) if errors else ''}\t{total}")
PY
}

start_original() {
  API_LOG=$WORK/original-api.log "$ORIGINAL_VENV/bin/gunicorn" -w 5 -b 127.0.0.1:18001 \
    --chdir "$BASELINES/original-django" originalapp:application --log-level warning &
  pids+=($!)
}
start_bare() {
  target/release/examples/bare_handler 127.0.0.1:18002 &
  pids+=($!)
}
start_gateway() { # request log on, stdout logs at the default level
  (cd "$WORK" && exec env -i PATH="$PATH" \
    AGORA_APP_ID=970CA35de60c44645bbae8a215061b33 AGORA_APP_CERT=5CFd2fd1755d40ecb72977518be15d3b \
    MEMHARBOR_SECRET_KEY="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" \
    MEMHARBOR_HTTP_ADDR=127.0.0.1:18003 MEMHARBOR_LOG_DIR="$WORK/logs" MEMHARBOR_LOG_MAX_MB=0 \
    RECORDER_URL=http://127.0.0.1:1 "$ROOT/target/release/api-gateway" >> "$WORK/gateway.out" 2>&1) &
  pids+=($!)
}
# The gateway with auth: API keys, then Firebase ID tokens (a key set served from loopback, one
# user's token), each with its own wrk script carrying the credential.
target/release/examples/id_token_fixture > "$WORK/fixture.json"
mkdir -p "$WORK/jwks"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write(json.dumps(d["jwks"])); open(sys.argv[3],"w").write(d["token"])' \
  "$WORK/fixture.json" "$WORK/jwks/jwks.json" "$WORK/id-token"
for cred in keys firebase; do
  bearer=$([ "$cred" = keys ] && echo bench-key || cat "$WORK/id-token")
  { cat "$LUA"; echo "wrk.headers[\"Authorization\"] = \"Bearer $bearer\""; } > "$WORK/post_token_$cred.lua"
done
(cd "$WORK/jwks" && exec python3 -m http.server 18009 --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
start_gateway_auth() { # keys | firebase
  local auth=(MEMHARBOR_API_KEYS=bench-key)
  [ "$1" = firebase ] && auth=(MEMHARBOR_AUTH=firebase FIREBASE_PROJECT_ID=demo-memharbor \
    MEMHARBOR_AUTH_KEYS_URL=http://127.0.0.1:18009/jwks.json MEMHARBOR_RATE_TOKENS_PER_MIN=0)
  (cd "$WORK" && exec env -i PATH="$PATH" "${auth[@]}" \
    AGORA_APP_ID=970CA35de60c44645bbae8a215061b33 AGORA_APP_CERT=5CFd2fd1755d40ecb72977518be15d3b \
    MEMHARBOR_SECRET_KEY="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" \
    MEMHARBOR_HTTP_ADDR=127.0.0.1:18004 MEMHARBOR_LOG_DIR="$WORK/logs-$1" MEMHARBOR_LOG_MAX_MB=0 \
    RECORDER_URL=http://127.0.0.1:1 "$ROOT/target/release/api-gateway" >> "$WORK/gateway-$1.out" 2>&1) &
  pids+=($!)
}
wait_auth() { # url credential
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null -X POST -H 'content-type: application/json' -H "authorization: Bearer $2" \
      -d '{"channel":"group1_alice_bob","uid":1}' "$1" && return 0
    sleep 0.1
  done
  echo "bench: $1 never answered" >&2; exit 1
}
run_wrk_with() { # name url lua
  local LUA=$3
  run_wrk "$1" "$2"
}

stop_last() { kill "${pids[-1]}" 2>/dev/null || true; wait "${pids[-1]}" 2>/dev/null || true; }

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  start_original; wait_for http://127.0.0.1:18001/api/token
  run_wrk original-django http://127.0.0.1:18001/api/token; stop_last
  start_bare; wait_for http://127.0.0.1:18002/api/token
  run_wrk bare-actix http://127.0.0.1:18002/api/token; stop_last
  start_gateway; wait_for http://127.0.0.1:18003/api/token
  run_wrk memharbor-gateway http://127.0.0.1:18003/api/token; stop_last
  start_gateway_auth keys; wait_auth http://127.0.0.1:18004/api/token bench-key
  run_wrk_with gateway-api-key http://127.0.0.1:18004/api/token "$WORK/post_token_keys.lua"; stop_last
  start_gateway_auth firebase; wait_auth http://127.0.0.1:18004/api/token "$(cat "$WORK/id-token")"
  run_wrk_with gateway-id-token http://127.0.0.1:18004/api/token "$WORK/post_token_firebase.lua"; stop_last
done
logged=$(grep -c 'Success' "$WORK/logs/api.log" || true)

mkdir -p bench/results
out=bench/results/http-$(date -u +%Y%m%dT%H%M%SZ).txt
python3 - "$WORK/rows" "$logged" "$DURATION" "$ROUNDS" <<'PY' | tee "$out"
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, rps, p50, p99, non2xx, err, total = line.rstrip("\n").split("\t")
    runs.setdefault(name, []).append((float(rps), float(p50), float(p99), int(non2xx), err, int(total)))
rows = {}
for name, rs in runs.items():
    rs.sort()
    rows[name] = rs[len(rs) // 2]  # the median round by throughput
    print(f"{name}: rounds req/s = {', '.join(f'{r[0]:.0f}' for r in runs[name])}; non-2xx total = {sum(r[3] for r in rs)}")
print(f"\nwrk -t2 -c50 -d{sys.argv[3]} -s post_token.lua --latency, {sys.argv[4]} interleaved rounds, median round shown")
print(f"{'server':<20}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
for name, (rps, p50, p99, bad, err, _) in rows.items():
    print(f"{name:<20}{rps:>10.0f}{p50:>9.2f}{p99:>9.2f}{bad:>9}  {err}")
g, o, b = rows["memharbor-gateway"], rows["original-django"], rows["bare-actix"]
print(f"\ngateway / original = {g[0] / o[0]:.1f}x   (guard >= 25x)")
print(f"gateway / bare     = {g[0] / b[0]:.2f}x  (for information)")
print(f"gateway p99        = {g[2]:.2f} ms (guard <= 3 ms), non-2xx = {g[3]} (guard 0)")
answered = sum(r[5] for r in runs["memharbor-gateway"])
print(f"gateway requests answered (all rounds) = {answered}; api.log 'Success' lines = {sys.argv[2]} (none dropped if >=)")
if "gateway-api-key" in rows and "gateway-id-token" in rows:
    k, f = rows["gateway-api-key"], rows["gateway-id-token"]
    print(f"auth: API key {k[0]:.0f} req/s (p99 {k[2]:.2f} ms), Firebase ID token {f[0]:.0f} req/s (p99 {f[2]:.2f} ms): ID tokens at {f[0] / k[0]:.2f}x")
failed = [what for what, ok in [
    ("gateway below 25x the original", g[0] / o[0] >= 25),
    ("gateway p99 above 3 ms", g[2] <= 3.0),
    ("gateway answered non-2xx", g[3] == 0),
] if not ok]
if failed:
    print("REGRESSION: " + "; ".join(failed))
    sys.exit(1)
PY
echo "written to $out"
