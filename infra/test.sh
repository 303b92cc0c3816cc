#!/usr/bin/env bash
# `npm test`: install what is missing, start the real services the tests need (Temporal dev server,
# PostgreSQL, Redis, Kafka; the time-skipping test server is started by the tests themselves), then run
# the whole suite with a coverage report. Extra arguments go to vitest (e.g. a file filter).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
bash infra/bootstrap.sh
# The deployment tests' tools (helm and promtool build from source the first time, several minutes): their
# install starts now, beside the services and the first test files; the deploy tests wait for it (one lock)
# and report its failure themselves.
(bash infra/deploy/tools.sh >/dev/null 2>&1 &)
bash infra/services.sh up
eval "$(bash infra/services.sh env)"
export DATABASE_URL="$TEST_DATABASE_URL"
export NODE_ENV=test
exec npx vitest run --coverage "$@"
