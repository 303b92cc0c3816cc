#!/usr/bin/env bash
# `npm test`: install what is missing, start the real services the tests need (Temporal dev server,
# PostgreSQL, Redis, Kafka; the time-skipping test server is started by the tests themselves), then run
# the whole suite with a coverage report. Extra arguments go to vitest (e.g. a file filter).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
bash infra/bootstrap.sh
bash infra/services.sh up
eval "$(bash infra/services.sh env)"
export DATABASE_URL="$TEST_DATABASE_URL"
export NODE_ENV=test
exec npx vitest run --coverage "$@"
