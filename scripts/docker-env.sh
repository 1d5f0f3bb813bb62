#!/usr/bin/env bash
# `make docker-env`: docker/gateway.env and docker/recorder.env for docker-compose, each service
# with only its own settings, and one random MEMHARBOR_SECRET_KEY shared by both. Existing files
# are kept (a missing or placeholder key is filled in, the same in both).
set -euo pipefail
cd "$(dirname "$0")/.."
for service in gateway recorder; do
  [[ -f docker/$service.env ]] || { cp "docker/$service.env.example" "docker/$service.env"; echo "created docker/$service.env"; }
done
scripts/ensure-secret.sh docker/gateway.env >/dev/null
secret=$(grep -E '^MEMHARBOR_SECRET_KEY=' docker/gateway.env | tail -1 | cut -d= -f2-)
if grep -qE '^MEMHARBOR_SECRET_KEY=' docker/recorder.env; then
  sed -i -E "s/^MEMHARBOR_SECRET_KEY=.*/MEMHARBOR_SECRET_KEY=$secret/" docker/recorder.env
else
  printf 'MEMHARBOR_SECRET_KEY=%s\n' "$secret" >> docker/recorder.env
fi
chmod 600 docker/gateway.env docker/recorder.env
echo "docker/gateway.env and docker/recorder.env share one MEMHARBOR_SECRET_KEY"
