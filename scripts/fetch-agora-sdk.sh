#!/usr/bin/env bash
# Fetches the pinned Agora Web SDK (agora-rtc-sdk-ng) from the npm registry into vendor/ (ignored by
# git), checks the tarball against npm's published integrity hash, and keeps only the browser
# bundle the recorder page loads (RECORDER_AGORA_SDK's default). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=4.24.8
INTEGRITY=sha512-TkHDu1HxYcjfbvpmOfOAucSgMJRlphODQlVN6fwAMCh7yIKt6J4O3wITNCvUkEVi9aaZTjeJOZ+onFUu/zlnuw==
DEST=vendor/agora-rtc-sdk-ng-$VERSION
FILE=$DEST/AgoraRTC_N-production.js
[ -s "$FILE" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
url=https://registry.npmjs.org/agora-rtc-sdk-ng/-/agora-rtc-sdk-ng-$VERSION.tgz
echo "fetching agora-rtc-sdk-ng $VERSION from the npm registry"
curl -fsSL --retry 3 "$url" -o "$tmp/sdk.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tmp/sdk.tgz" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
  echo "agora-rtc-sdk-ng $VERSION: integrity mismatch (got $got)" >&2
  exit 1
fi
tar -xzf "$tmp/sdk.tgz" -C "$tmp" package/AgoraRTC_N-production.js package/LICENSE.md 2>/dev/null \
  || tar -xzf "$tmp/sdk.tgz" -C "$tmp" package/AgoraRTC_N-production.js
mkdir -p "$DEST"
cp "$tmp"/package/* "$DEST"/
echo "$FILE ready"
