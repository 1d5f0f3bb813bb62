#!/usr/bin/env bash
# Installs the Debian packages a Makefile target needs, only those missing. Usage:
#   scripts/setup-system.sh build|run|test|bench
# Needs root or sudo for apt-get; prints what it installs.
set -euo pipefail

# ffmpeg-next (audio resampling) links FFmpeg's libraries and generates bindings with clang.
build_pkgs=(pkg-config clang libclang-dev libavcodec-dev libavformat-dev libavutil-dev
            libswresample-dev libavfilter-dev libavdevice-dev libswscale-dev)
# The recorder drives Debian's Chromium; the SDK is fetched with curl and checked with openssl.
run_pkgs=(chromium curl openssl ca-certificates)
# Tests: pgrep/kill (process tests), espeak-ng (speech samples for `make demo`), nginx (run in
# front of the gateway), docker-compose (parses the compose files; no Docker engine needed).
test_pkgs=(procps espeak-ng python3-venv nginx docker-compose)
bench_pkgs=(wrk python3-venv procps)

case "${1:-build}" in
  build) want=("${build_pkgs[@]}") ;;
  run)   want=("${build_pkgs[@]}" "${run_pkgs[@]}") ;;
  test)  want=("${build_pkgs[@]}" "${run_pkgs[@]}" "${test_pkgs[@]}") ;;
  bench) want=("${build_pkgs[@]}" "${run_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 build|run|test|bench" >&2; exit 2 ;;
esac
# The stand-in's type check needs Node.js and npm: Debian's, unless the machine has its own.
if [ "${1:-}" = test ] || [ "${1:-}" = bench ]; then
  command -v npm >/dev/null || want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "setup: missing Debian packages ${missing[*]} and no apt-get here; install them by hand" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
