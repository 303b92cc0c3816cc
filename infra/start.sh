#!/usr/bin/env bash
# `npm start`: install what is missing (npm packages, the project's Temporal CLI), then run the whole
# system on embedded defaults (or on the services named by TEMPORAL_ADDRESS, DATABASE_URL, REDIS_URL,
# KAFKA_BROKERS). Ctrl-C stops everything it started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
bash infra/bootstrap.sh
if [[ -z "${TEMPORAL_ADDRESS:-}" ]]; then
  bash infra/services.sh install temporal
fi
node --import tsx infra/build.ts
exec node --enable-source-maps dist/infra/supervisor.mjs
