#!/usr/bin/env bash
# Gives an env file a random MEMHARBOR_SECRET_KEY (64 hex characters) when it has none, or still
# has a placeholder: both services refuse to start without a real one. A real key is left alone.
set -euo pipefail
file=${1:?usage: ensure-secret.sh ENV_FILE}
current=$(grep -E '^MEMHARBOR_SECRET_KEY=' "$file" | tail -1 | cut -d= -f2- || true)
lowered=${current,,}
if [[ ${#current} -ge 32 && $lowered != *change-me* && $lowered != *changeme* ]]; then
  exit 0
fi
secret=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
if grep -qE '^MEMHARBOR_SECRET_KEY=' "$file"; then
  sed -i -E "s/^MEMHARBOR_SECRET_KEY=.*/MEMHARBOR_SECRET_KEY=$secret/" "$file"
else
  printf 'MEMHARBOR_SECRET_KEY=%s\n' "$secret" >> "$file"
fi
echo "wrote a random MEMHARBOR_SECRET_KEY into $file"
