#!/usr/bin/env bash
# Installs the npm packages when package-lock.json changed since the last install (idempotent, fast when
# nothing changed). Used by `npm start` and `npm test`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
marker="node_modules/.llmopt-lock-hash"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
  exit 0
fi
mkdir -p .local
# Serialized: two commands bootstrapping at once must not interleave npm ci.
exec 9>.local/npm.lock
flock 9
if [[ -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
  exit 0
fi
echo "bootstrap: installing npm packages (package-lock.json changed)"
npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$marker"
