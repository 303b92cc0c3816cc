#!/usr/bin/env bash
# `npm run bench -- [section] [--json]`: the real services up, then the benchmark sections.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
bash infra/bootstrap.sh >&2
bash infra/services.sh up >&2
bash infra/services.sh bench-tools >&2 || echo "bench: wrk unavailable; the api section falls back to autocannon" >&2
eval "$(bash infra/services.sh env)"
export DATABASE_URL="${BENCH_DATABASE_URL:-$DATABASE_URL}"
exec node --import tsx bench/run.ts "$@"
