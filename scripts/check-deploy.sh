#!/usr/bin/env bash
# Validates the deployment files with real tools, offline (no Docker engine, no cluster):
# hadolint on the Dockerfiles, Debian's docker-compose parsing the compose files (development,
# production, production + cluster), kubectl kustomize rendering the overlay and
# kubernetes-validate checking every object against the Kubernetes schema; then
# scripts/check_deploy.py asserts what operators rely on in the results.
set -euo pipefail
cd "$(dirname "$0")/.."
T=.tools/venv/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$T/hadolint" docker/*.Dockerfile
# Both images build with compose v1's classic builder and offline: no BuildKit-only syntax, no
# `# syntax=` frontend image to pull; and both create uid and gid 10001.
if grep -nE '^# *syntax=|--mount=' docker/*.Dockerfile; then
  echo "the Dockerfiles must build without BuildKit"; exit 1
fi
for f in docker/*.Dockerfile; do
  grep -q -- '--gid 10001' "$f" && grep -q 'USER 10001:10001' "$f" || { echo "$f: uid and gid 10001"; exit 1; }
done

# Compose resolves env_file and relative paths from the file's folder: parse copies next to the
# per-service env files made from their examples (and a .env for the tunnel's token).
cp docker-compose.yml docker-compose.prod.yml docker-compose.cluster.yml "$tmp"/
mkdir -p "$tmp/docker"
cp docker/gateway.env.example "$tmp/docker/gateway.env"
cp docker/recorder.env.example "$tmp/docker/recorder.env"
cp .env.example "$tmp/.env"
(cd "$tmp" && docker-compose -f docker-compose.yml config > dev.resolved.yml \
            && docker-compose -f docker-compose.prod.yml config > prod.resolved.yml \
            && docker-compose -f docker-compose.prod.yml -f docker-compose.cluster.yml config > cluster.resolved.yml)

kubectl kustomize deploy/overlays/production > "$tmp/k8s.yml"
"$T/kubernetes-validate" --strict --quiet "$tmp/k8s.yml"

python3 scripts/check_deploy.py "$tmp/dev.resolved.yml" "$tmp/prod.resolved.yml" "$tmp/cluster.resolved.yml" "$tmp/k8s.yml"
echo "deploy files: hadolint, docker-compose, kustomize and kubernetes-validate all pass"
