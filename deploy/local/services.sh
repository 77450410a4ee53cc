#!/usr/bin/env bash
# Start, stop and inspect the four Propfee services, and the staff console in front of them
# (python -m propfee.console: web/console/dist and /api/<service>/ on one origin), as
# background processes.
#   deploy/local/services.sh up|down|status|logs [service|console]
# Logs and pid files live under ${PROPFEE_HOME:-<repo>/.local}. Each service reads its own
# environment (BILLING_DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, ...); defaults fit `make up`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PROPFEE_HOME="${PROPFEE_HOME:-$ROOT/.local}"
RUN_DIR="$PROPFEE_HOME/run"
LOG_DIR="$PROPFEE_HOME/logs"
SERVICES=(billing payments dunning notifier console)
# A developer's machine: the services accept their built-in development secrets here (and
# refuse them anywhere else, e.g. payments' QR secret).
export PROPFEE_ENVIRONMENT="${PROPFEE_ENVIRONMENT:-development}"
declare -A PORTS=([billing]=8101 [payments]=8102 [dunning]=8103 [notifier]=8104 [console]=8100)
# The console's module, and where it finds the services (the ports above).
declare -A MODULES=([billing]=billing [payments]=payments [dunning]=dunning [notifier]=notifier [console]=propfee.console)
for svc in billing payments dunning notifier; do
  export "CONSOLE_$(tr '[:lower:]' '[:upper:]' <<<"$svc")_URL=http://127.0.0.1:$(
    var="$(tr '[:lower:]' '[:upper:]' <<<"$svc")_HTTP_PORT"; printf '%s' "${!var:-${PORTS[$svc]}}")"
done

say() { printf 'services: %s\n' "$*"; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

port_of() {
  local svc=$1 var
  var="$(tr '[:lower:]' '[:upper:]' <<<"$svc")_HTTP_PORT"
  printf '%s' "${!var:-${PORTS[$svc]}}"
}

pid_alive() {
  local file="$RUN_DIR/$1.pid"
  [[ -f $file ]] && kill -0 "$(cat "$file")" 2>/dev/null
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ready() { curl -fsS -m 2 "http://127.0.0.1:$(port_of "$1")/readyz" >/dev/null 2>&1; }

start_one() {
  local svc=$1 port
  port=$(port_of "$svc")
  if pid_alive "$svc"; then
    say "$svc already running (pid $(cat "$RUN_DIR/$svc.pid")) on http://127.0.0.1:$port"
    return
  fi
  if port_busy "$port"; then
    die "port $port (for $svc) is already in use by another process; free it or set $(tr '[:lower:]' '[:upper:]' <<<"$svc")_HTTP_PORT"
  fi
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  # setsid makes the service the leader of its own process group (its pid is the group id),
  # so `down` can signal it and everything it started; nothing else is backgrounded here so
  # that $! is that leader.
  cd "$ROOT"
  if [[ $svc == console && ! -f $ROOT/web/console/dist/index.html ]]; then
    say "console: web/console/dist is not built (make console); it will answer 503 until it is"
  fi
  setsid nohup "$ROOT/.venv/bin/python" -m "${MODULES[$svc]}" serve >>"$LOG_DIR/$svc.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$svc.pid"
  say "$svc starting (pid $(cat "$RUN_DIR/$svc.pid")), log $LOG_DIR/$svc.log"
}

wait_ready() {
  local svc=$1 deadline=$((SECONDS + ${PROPFEE_SERVICE_TIMEOUT:-90}))
  until ready "$svc"; do
    if ! pid_alive "$svc"; then
      tail -n 40 "$LOG_DIR/$svc.log" >&2 || true
      die "$svc exited during start-up (log above)"
    fi
    if (( SECONDS > deadline )); then
      tail -n 40 "$LOG_DIR/$svc.log" >&2 || true
      die "$svc not ready after ${PROPFEE_SERVICE_TIMEOUT:-90}s (log above)"
    fi
    sleep 0.2
  done
  if [[ $svc == console ]]; then
    say "console ready on http://127.0.0.1:$(port_of "$svc")  (development sign-in: a role and a company, co-demo after make demo)"
  else
    say "$svc ready on http://127.0.0.1:$(port_of "$svc")  (docs: /docs, health: /healthz, /readyz, /metrics)"
  fi
}

stop_one() {
  local svc=$1 pid
  if ! pid_alive "$svc"; then
    rm -f "$RUN_DIR/$svc.pid"
    return
  fi
  pid=$(cat "$RUN_DIR/$svc.pid")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$svc did not stop in 30s; killing"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN_DIR/$svc.pid"
  say "$svc stopped"
}

selected() { if (( $# )); then printf '%s\n' "$@"; else printf '%s\n' "${SERVICES[@]}"; fi; }

cmd=${1:-status}
shift || true
case $cmd in
  up)
    [[ -x "$ROOT/.venv/bin/python" ]] || die "the virtual environment is missing (run: make sync)"
    mapfile -t list < <(selected "$@")
    for svc in "${list[@]}"; do start_one "$svc"; done
    for svc in "${list[@]}"; do wait_ready "$svc"; done
    ;;
  down)
    # All at once: each finishes its records in hand and leaves its consumer group (a
    # second or two), and none waits for another.
    mapfile -t list < <(selected "$@")
    for svc in "${list[@]}"; do stop_one "$svc" & done
    wait
    ;;
  status)
    rc=0
    for svc in $(selected "$@"); do
      if pid_alive "$svc"; then
        state="running (pid $(cat "$RUN_DIR/$svc.pid"))"
        ready "$svc" && state="$state, ready" || state="$state, not ready"
      else
        state="stopped"; rc=3
      fi
      printf '%-9s %-40s http://127.0.0.1:%s\n' "$svc" "$state" "$(port_of "$svc")"
    done
    exit $rc
    ;;
  logs)
    mapfile -t list < <(selected "$@")
    files=()
    for svc in "${list[@]}"; do files+=("$LOG_DIR/$svc.log"); done
    exec tail -n 50 -F "${files[@]}"
    ;;
  *)
    die "usage: $0 up|down|status|logs [service...]"
    ;;
esac
