#!/usr/bin/env bash
# Propfee local infrastructure: a real single-node Apache Kafka (KRaft, broker+controller) and a
# real PostgreSQL server, run as plain background processes on 127.0.0.1 (no Docker needed).
#
#   deploy/local/infra.sh up | down | status | env | logs [kafka|postgres] | psql [db] [psql args]
#                         psql-owner db [psql args]
#                         start-kafka | stop-kafka | start-postgres | stop-postgres | reset | help
#                         start-kafka-secure | stop-kafka-secure | env-kafka-secure [service]
#                         start-kafka-cluster | stop-kafka-cluster | env-kafka-cluster
#                         kill-kafka-node N | start-kafka-node N | kafka-cluster-leader | kafka-cluster-status
#
# Everything it downloads or writes lives under ${PROPFEE_HOME:-<repo>/.local}.
# See deploy/local/README.md for the details.
set -euo pipefail

readonly KAFKA_VERSION=4.1.2
readonly SERVICES=(billing payments dunning notifier)

SCRIPT_PATH="$(readlink -f -- "${BASH_SOURCE[0]}")"
SCRIPT_DIR="$(dirname -- "$SCRIPT_PATH")"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/../.." && pwd -P)"
KAFKA_SRC_DIR="$SCRIPT_DIR/kafka"
readonly SCRIPT_PATH SCRIPT_DIR REPO_ROOT KAFKA_SRC_DIR

# ---------------------------------------------------------------------------------------------
# messages

info() { printf 'infra: %s\n' "$*" >&2; }
warn() { printf 'infra: WARNING: %s\n' "$*" >&2; }
die() {
    printf 'infra: ERROR: %s\n' "$*" >&2
    exit 1
}

# show_log_tail FILE [LINES]: print the end of a log file (used on every failure)
show_log_tail() {
    local file=$1 lines=${2:-40}
    if [[ -s $file ]]; then
        printf 'infra: ---- last %s lines of %s ----\n' "$lines" "$file" >&2
        tail -n "$lines" -- "$file" >&2 || true
        printf 'infra: ---- end of %s ----\n' "$file" >&2
    else
        info "(log $file is empty or missing)"
    fi
}

# ---------------------------------------------------------------------------------------------
# configuration

is_port() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)); }

KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
PG_PORT=${PG_PORT:-55432}
INFRA_TIMEOUT=${PROPFEE_INFRA_TIMEOUT:-90}
STOP_TIMEOUT=${PROPFEE_INFRA_STOP_TIMEOUT:-30}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}
# The second, secured broker (start-kafka-secure): its own ports, directories and class path.
KAFKA_SECURE_PORT=${KAFKA_SECURE_PORT:-9192}
KAFKA_SECURE_CONTROLLER_PORT=${KAFKA_SECURE_CONTROLLER_PORT:-9193}
KAFKA_SECURE_INTERNAL_PORT=${KAFKA_SECURE_INTERNAL_PORT:-9194}
KAFKA_SECURE_HEAP_OPTS=${KAFKA_SECURE_HEAP_OPTS:--Xms128m -Xmx512m}
# The 3-node cluster (start-kafka-cluster): node N (1..3) listens on BASE+(N-1)*100 (broker) and
# BASE+(N-1)*100+1 (controller).
KAFKA_CLUSTER_PORT_BASE=${KAFKA_CLUSTER_PORT_BASE:-9292}
KAFKA_CLUSTER_HEAP_OPTS=${KAFKA_CLUSTER_HEAP_OPTS:--Xms128m -Xmx512m}
KAFKA_CLUSTER_STOP_TIMEOUT=${KAFKA_CLUSTER_STOP_TIMEOUT:-20}
[[ $KAFKA_CLUSTER_PORT_BASE =~ ^[0-9]+$ ]] && ((10#$KAFKA_CLUSTER_PORT_BASE >= 1 && 10#$KAFKA_CLUSTER_PORT_BASE <= 65334)) ||
    die "KAFKA_CLUSTER_PORT_BASE='$KAFKA_CLUSTER_PORT_BASE' must be a port number of at most 65334 (the nodes use BASE .. BASE+201)"
[[ $KAFKA_CLUSTER_STOP_TIMEOUT =~ ^[0-9]+$ ]] || die "KAFKA_CLUSTER_STOP_TIMEOUT must be a number of seconds"
for _v in KAFKA_PORT KAFKA_CONTROLLER_PORT PG_PORT KAFKA_SECURE_PORT KAFKA_SECURE_CONTROLLER_PORT KAFKA_SECURE_INTERNAL_PORT; do
    is_port "${!_v}" || die "$_v='${!_v}' is not a TCP port number"
done
[[ $KAFKA_PORT != "$KAFKA_CONTROLLER_PORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
[[ $INFRA_TIMEOUT =~ ^[0-9]+$ ]] || die "PROPFEE_INFRA_TIMEOUT must be a number of seconds"
[[ $STOP_TIMEOUT =~ ^[0-9]+$ ]] || die "PROPFEE_INFRA_STOP_TIMEOUT must be a number of seconds"
unset _v

PROPFEE_HOME=${PROPFEE_HOME:-$REPO_ROOT/.local}
mkdir -p -- "$PROPFEE_HOME" || die "cannot create PROPFEE_HOME=$PROPFEE_HOME"
PROPFEE_HOME="$(cd -- "$PROPFEE_HOME" && pwd -P)"
export PROPFEE_HOME

LOG_DIR=$PROPFEE_HOME/logs
RUN_DIR=$PROPFEE_HOME/run
LOCK_FILE=$PROPFEE_HOME/infra.lock

KAFKA_HOME_DIR=$PROPFEE_HOME/kafka
KAFKA_LIBS=$KAFKA_HOME_DIR/libs
KAFKA_LIBS_MARKER=$KAFKA_LIBS/.propfee-complete
KAFKA_CONF=$KAFKA_HOME_DIR/config/server.properties
KAFKA_DATA=$KAFKA_HOME_DIR/data
KAFKA_CLUSTER_ID_FILE=$KAFKA_HOME_DIR/cluster-id
KAFKA_FORMATTED_FILE=$KAFKA_HOME_DIR/formatted-with
KAFKA_PID_FILE=$RUN_DIR/kafka.pid
KAFKA_LOG=$LOG_DIR/kafka.log
KAFKA_LOG4J=$KAFKA_SRC_DIR/log4j2.properties
KAFKA_TEMPLATE=$KAFKA_SRC_DIR/server.properties.template
KAFKA_POM=$KAFKA_SRC_DIR/pom.xml
MAVEN_REPO=${PROPFEE_MAVEN_REPO:-$PROPFEE_HOME/maven-repo}
KAFKA_ADDR=127.0.0.1:$KAFKA_PORT

KS_SRC_DIR=$SCRIPT_DIR/kafka-secure
KS_POM=$KS_SRC_DIR/pom.xml
KS_TEMPLATE=$KS_SRC_DIR/server.properties.template
KS_HOME=$PROPFEE_HOME/kafka-secure
# The broker + tools class path (deploy/local/kafka-secure/pom.xml), used by the secured broker
# and the 3-node cluster. PROPFEE_KAFKA_TOOLS_LIBS may name a complete one elsewhere (e.g. another
# PROPFEE_HOME's kafka-secure/libs): when its marker matches the pom it is used as it is,
# read-only, and nothing is downloaded (see ks_find_libs).
KS_OWN_LIBS=$KS_HOME/libs
KS_LIBS=$KS_OWN_LIBS
KS_LIBS_MARKER=$KS_LIBS/.propfee-complete
KS_CONF=$KS_HOME/config/server.properties
KS_DATA=$KS_HOME/data
KS_TLS=$KS_HOME/tls
KS_USERS=$KS_HOME/users
KS_ADMIN_PROPS=$KS_HOME/config/admin.properties
KS_PID_FILE=$RUN_DIR/kafka-secure.pid
KS_LOG=$LOG_DIR/kafka-secure.log
KS_LOCK_FILE=$PROPFEE_HOME/kafka-secure.lock
# The Kafka users of the secured broker: admin (super user) and one per service.
KS_USER_NAMES=(admin "${SERVICES[@]}")

PG_LOCATION_FILE=$PROPFEE_HOME/pg.location
PG_DEFAULT_ROOT=$PROPFEE_HOME/pg
PG_ADDR=127.0.0.1:$PG_PORT
PG_ROLE=propfee # the runtime role: the services' *_DATABASE_URL
PG_PASSWORD=propfee
PG_OWNER_ROLE=propfee_owner # the owner role: migrations (propfee.settings.LOCAL_PG_OWNER)
PG_OWNER_PASSWORD=propfee_owner
HOME_HASH="$(printf '%s' "$PROPFEE_HOME" | sha256sum | cut -c1-12)"

# Filled in lazily by pg_resolve_paths / pg_require_bin / require_java.
PG_ROOT=""
PGDATA_DIR=""
PG_SOCK_DIR=""
PG_LOG=""
PG_BIN_DIR=""
PSQL=""
JAVA=""

# The infrastructure is "ours" unless the caller points the services somewhere else.
ensure_dirs() { mkdir -p -- "$LOG_DIR" "$RUN_DIR" "$KAFKA_HOME_DIR"; }

# take_lock: serialise up/down/start/stop of concurrent infra.sh runs (fd 9; never inherited by
# the daemons, every launch closes it with 9>&-).
take_lock() {
    ensure_dirs
    exec 9>"$LOCK_FILE"
    if ! flock -n 9; then
        info "another infra.sh is running (lock $LOCK_FILE); waiting up to 300 s ..."
        flock -w 300 9 || die "could not take the lock $LOCK_FILE within 300 s"
    fi
}

# ---------------------------------------------------------------------------------------------
# processes and ports

# pid_matches PID PATTERN: PID is alive and its command line contains PATTERN
pid_matches() {
    local pid=$1 pattern=$2
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    local cmdline
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ $cmdline == *"$pattern"* ]]
}

# port_owner PORT: if something listens on 127.0.0.1:PORT (or on a wildcard address), print a
# description of it and succeed; fail when the port is free.
port_owner() {
    local port=$1 out desc
    if command -v ss >/dev/null 2>&1; then
        out="$(ss -Hltnp "sport = :$port" 2>/dev/null || true)"
        [[ -n $out ]] || return 1
        desc="$(sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p' <<<"$out" | awk 'NR == 1')"
        if [[ -z $desc ]]; then
            desc="an unknown process (not visible to $(id -un))"
        fi
        printf '%s, listening on %s' "$desc" "$(awk 'NR == 1 {print $4}' <<<"$out")"
        return 0
    fi
    if port_open "$port"; then
        printf 'an unknown process (ss not available to name it)'
        return 0
    fi
    return 1
}

# port_open PORT: a TCP connection to 127.0.0.1:PORT succeeds
port_open() {
    # shellcheck disable=SC2016 # $1 is expanded by the inner bash
    timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# require_port_free PORT WHAT ENVVAR
require_port_free() {
    local port=$1 what=$2 var=$3 owner
    if owner="$(port_owner "$port")"; then
        die "port $port (needed for $what) is already in use by $owner; that is not a process this script started. Stop it, or pick another port with $var=<port>."
    fi
}

# stop_pid NAME PID PATTERN SIGNAL: send SIGNAL, wait up to STOP_TIMEOUT s, then SIGKILL
# (the process and its direct children).
stop_pid() {
    local name=$1 pid=$2 pattern=$3 sig=$4 waited=0
    kill "-$sig" "$pid" 2>/dev/null || true
    while pid_matches "$pid" "$pattern"; do
        if ((waited >= STOP_TIMEOUT * 10)); then
            warn "$name (pid $pid) did not stop within ${STOP_TIMEOUT} s after SIG$sig; sending SIGKILL"
            pkill -KILL -P "$pid" 2>/dev/null || true
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    info "$name stopped"
}

# ---------------------------------------------------------------------------------------------
# external (not managed) components

our_database_url() { printf 'postgresql://%s:%s@127.0.0.1:%s/%s' "$PG_ROLE" "$PG_PASSWORD" "$PG_PORT" "$1"; }
our_owner_url() { printf 'postgresql://%s:%s@127.0.0.1:%s/%s' "$PG_OWNER_ROLE" "$PG_OWNER_PASSWORD" "$PG_PORT" "$1"; }
url_var() { printf '%s_DATABASE_URL' "${1^^}"; }

# kafka_is_external: KAFKA_BOOTSTRAP_SERVERS is set and points to a Kafka we do not manage.
# When it names our own address (typically after `eval "$(infra.sh env)"`) the Kafka is still
# ours, unless our broker is down and some other process listens there.
kafka_is_external() {
    [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]] || return 1
    case $KAFKA_BOOTSTRAP_SERVERS in
    "127.0.0.1:$KAFKA_PORT" | "localhost:$KAFKA_PORT") ;;
    *) return 0 ;;
    esac
    kafka_pid >/dev/null && return 1
    port_owner "$KAFKA_PORT" >/dev/null && return 0
    return 1
}

# pg_is_external: all four *_DATABASE_URL are set (same rule for "our own address" as Kafka).
pg_is_external() {
    local svc var all_ours=1
    for svc in "${SERVICES[@]}"; do
        var="$(url_var "$svc")"
        [[ -n ${!var:-} ]] || return 1
        [[ ${!var} == "$(our_database_url "$svc")" ]] || all_ours=0
    done
    ((all_ours)) || return 0
    pg_resolve_paths
    pg_pid >/dev/null && return 1
    port_owner "$PG_PORT" >/dev/null && return 0
    return 1
}

# ---------------------------------------------------------------------------------------------
# Java / Maven / Kafka

require_java() {
    [[ -z $JAVA ]] || return 0
    if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
        JAVA=$JAVA_HOME/bin/java
    elif command -v java >/dev/null 2>&1; then
        JAVA="$(command -v java)"
    else
        die "Java not found. Kafka $KAFKA_VERSION needs Java 17 or newer: apt-get install -y openjdk-17-jre-headless (or set JAVA_HOME)."
    fi
    local version major
    version="$("$JAVA" -version 2>&1 | awk -F'"' '/version/ && v == "" {v = $2} END {print v}')"
    if [[ $version == 1.* ]]; then
        major="$(cut -d. -f2 <<<"$version")"
    else
        major="${version%%[.+-]*}"
    fi
    if ! [[ $major =~ ^[0-9]+$ ]] || ((major < 17)); then
        die "Kafka $KAFKA_VERSION needs Java 17 or newer, but $JAVA is version '${version:-unknown}'. Install openjdk-17-jre-headless or point JAVA_HOME at a JDK 17+."
    fi
}

kafka_libs_expected_marker() {
    printf 'kafka_2.13 %s pom-sha256=%s\n' "$KAFKA_VERSION" "$(sha256sum <"$KAFKA_POM" | cut -d' ' -f1)"
}

kafka_libs_ok() {
    [[ -f $KAFKA_LIBS_MARKER && -f $KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar ]] &&
        [[ "$(cat -- "$KAFKA_LIBS_MARKER")" == "$(kafka_libs_expected_marker)" ]]
}

# kafka_preflight: everything that can fail before anything is started
kafka_preflight() {
    require_java
    if ! kafka_libs_ok; then
        command -v mvn >/dev/null 2>&1 ||
            die "Maven (mvn) not found; it is needed once to download the Kafka $KAFKA_VERSION jars from Maven Central: apt-get install -y maven"
    fi
    [[ -f $KAFKA_TEMPLATE ]] || die "missing $KAFKA_TEMPLATE"
    [[ -f $KAFKA_LOG4J ]] || die "missing $KAFKA_LOG4J"
}

kafka_ensure_libs() {
    kafka_libs_ok && return 0
    local tmp=$KAFKA_HOME_DIR/libs.tmp.$$ mvn_log=$LOG_DIR/maven.log start=$SECONDS
    info "downloading the Kafka $KAFKA_VERSION class path from Maven Central (once; Maven repo $MAVEN_REPO) ..."
    rm -rf -- "$tmp"
    if ! mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$MAVEN_REPO" \
        -f "$KAFKA_POM" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime >"$mvn_log" 2>&1 </dev/null; then
        rm -rf -- "$tmp"
        show_log_tail "$mvn_log"
        die "mvn dependency:copy-dependencies failed (full output in $mvn_log)"
    fi
    [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || die "Maven finished but $tmp has no kafka_2.13-$KAFKA_VERSION.jar"
    rm -rf -- "$KAFKA_LIBS"
    mv -- "$tmp" "$KAFKA_LIBS"
    kafka_libs_expected_marker >"$KAFKA_LIBS_MARKER"
    info "Kafka class path ready: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $KAFKA_LIBS ($((SECONDS - start)) s)"
}

kafka_write_config() {
    local text
    mkdir -p -- "$(dirname -- "$KAFKA_CONF")" "$KAFKA_DATA"
    text="$(<"$KAFKA_TEMPLATE")"
    text=${text//@KAFKA_PORT@/"$KAFKA_PORT"}
    text=${text//@KAFKA_CONTROLLER_PORT@/"$KAFKA_CONTROLLER_PORT"}
    text=${text//@KAFKA_DATA_DIR@/"$KAFKA_DATA"}
    printf '# GENERATED by %s from %s -- do not edit\n%s\n' "$SCRIPT_PATH" "$KAFKA_TEMPLATE" "$text" >"$KAFKA_CONF"
}

kafka_tool() {
    "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool "$@" 9>&-
}

# kafka_format_if_needed: format the KRaft storage on the very first start only
kafka_format_if_needed() {
    local cluster_id format_log=$LOG_DIR/kafka-format.log
    if [[ -f $KAFKA_DATA/meta.properties ]]; then
        if [[ -f $KAFKA_FORMATTED_FILE && "$(<"$KAFKA_FORMATTED_FILE")" != "controller=127.0.0.1:$KAFKA_CONTROLLER_PORT" ]]; then
            warn "the KRaft storage was formatted with $(<"$KAFKA_FORMATTED_FILE") but KAFKA_CONTROLLER_PORT is now $KAFKA_CONTROLLER_PORT; if the broker does not come up, run '$0 reset' (deletes Kafka and PostgreSQL data)"
        fi
        return 0
    fi
    if [[ -s $KAFKA_CLUSTER_ID_FILE ]]; then
        cluster_id="$(<"$KAFKA_CLUSTER_ID_FILE")"
    else
        cluster_id="$(kafka_tool random-uuid 2>>"$format_log" | tail -n 1 | tr -d '[:space:]')"
        [[ $cluster_id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "kafka.tools.StorageTool random-uuid printed '$cluster_id' (see $format_log)"
        printf '%s\n' "$cluster_id" >"$KAFKA_CLUSTER_ID_FILE"
    fi
    info "formatting the KRaft storage in $KAFKA_DATA (cluster id $cluster_id, standalone controller) ..."
    if ! kafka_tool format --standalone -t "$cluster_id" -c "$KAFKA_CONF" >>"$format_log" 2>&1; then
        show_log_tail "$format_log"
        die "kafka.tools.StorageTool format failed (see $format_log)"
    fi
    printf 'controller=127.0.0.1:%s\n' "$KAFKA_CONTROLLER_PORT" >"$KAFKA_FORMATTED_FILE"
}

# kafka_pid: print the pid of our broker (pid file; or found by its unique config path)
kafka_pid() {
    local pid=""
    [[ -f $KAFKA_PID_FILE ]] && pid="$(<"$KAFKA_PID_FILE")"
    if pid_matches "$pid" "kafka.Kafka $KAFKA_CONF"; then
        printf '%s\n' "$pid"
        return 0
    fi
    # pid file lost or stale: adopt a broker that runs with our config file, if any
    pid="$(pgrep -f -- "kafka.Kafka $KAFKA_CONF" 2>/dev/null | awk 'NR == 1' || true)"
    if [[ -n $pid ]] && pid_matches "$pid" "kafka.Kafka $KAFKA_CONF"; then
        mkdir -p -- "$RUN_DIR"
        printf '%s\n' "$pid" >"$KAFKA_PID_FILE"
        printf '%s\n' "$pid"
        return 0
    fi
    return 1
}

kafka_is_ready() { grep -q 'Kafka Server started' "$KAFKA_LOG" 2>/dev/null && port_open "$KAFKA_PORT"; }

# kafka_launch: start the broker in the background (no waiting). Prints nothing on stdout.
kafka_launch() {
    local pid heap
    kafka_ensure_libs
    kafka_write_config
    kafka_format_if_needed
    [[ -f $KAFKA_LOG ]] && mv -f -- "$KAFKA_LOG" "$KAFKA_LOG.1"
    read -r -a heap <<<"$KAFKA_HEAP_OPTS"
    info "starting kafka $KAFKA_VERSION on $KAFKA_ADDR (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT), log $KAFKA_LOG"
    (
        cd -- "$KAFKA_HOME_DIR"
        exec setsid nohup "$JAVA" "${heap[@]}" \
            -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
            -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
            -XX:ErrorFile="$LOG_DIR/kafka-hs_err_pid%p.log" \
            -Djava.awt.headless=true \
            -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
            -cp "$KAFKA_LIBS/*" \
            kafka.Kafka "$KAFKA_CONF"
    ) >>"$KAFKA_LOG" 2>&1 </dev/null 9>&- &
    pid=$!
    printf '%s\n' "$pid" >"$KAFKA_PID_FILE"
    # the subshell execs setsid, nohup and java in turn (same pid); wait until it is java
    local i
    for ((i = 0; i < 50; i++)); do
        pid_matches "$pid" "kafka.Kafka $KAFKA_CONF" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    KAFKA_STARTED_AT=$SECONDS
}

# kafka_wait_ready: wait until the broker logged "Kafka Server started" and its port accepts
kafka_wait_ready() {
    local start=${KAFKA_STARTED_AT:-$SECONDS} next_report=5 elapsed pid
    while true; do
        elapsed=$((SECONDS - start))
        if ! pid="$(kafka_pid)"; then
            show_log_tail "$KAFKA_LOG"
            die "kafka exited during startup (after ${elapsed} s); see $KAFKA_LOG"
        fi
        if kafka_is_ready; then
            info "kafka ready on $KAFKA_ADDR (pid $pid, ${elapsed} s)"
            return 0
        fi
        if ((elapsed >= INFRA_TIMEOUT)); then
            show_log_tail "$KAFKA_LOG"
            die "kafka (pid $pid) not ready after ${INFRA_TIMEOUT} s (PROPFEE_INFRA_TIMEOUT); it is still running, '$0 stop-kafka' stops it"
        fi
        if ((elapsed >= next_report)); then
            info "waiting for kafka on $KAFKA_ADDR ... ${elapsed} s"
            next_report=$((next_report + 5))
        fi
        sleep 0.3
    done
}

kafka_up() {
    local pid
    if kafka_is_external; then
        info "using existing Kafka at $KAFKA_BOOTSTRAP_SERVERS (KAFKA_BOOTSTRAP_SERVERS is set; not managed here)"
        return 0
    fi
    ensure_dirs
    if pid="$(kafka_pid)"; then
        info "kafka already running (pid $pid) on $KAFKA_ADDR"
        KAFKA_STARTED_AT=$SECONDS
        kafka_wait_ready
        return 0
    fi
    kafka_preflight
    require_port_free "$KAFKA_PORT" "Kafka" KAFKA_PORT
    require_port_free "$KAFKA_CONTROLLER_PORT" "the Kafka controller" KAFKA_CONTROLLER_PORT
    kafka_launch
    STARTED_SOMETHING=1
    kafka_wait_ready
}

kafka_down() {
    local pid
    if kafka_is_external; then
        info "using existing Kafka at $KAFKA_BOOTSTRAP_SERVERS (KAFKA_BOOTSTRAP_SERVERS is set; leaving it alone)"
        return 0
    fi
    if ! pid="$(kafka_pid)"; then
        info "kafka is not running"
        rm -f -- "$KAFKA_PID_FILE"
        return 0
    fi
    info "stopping kafka (pid $pid, SIGTERM, up to ${STOP_TIMEOUT} s) ..."
    stop_pid kafka "$pid" "kafka.Kafka $KAFKA_CONF" TERM
    rm -f -- "$KAFKA_PID_FILE"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

# pg_find_bin [MAJOR]: the newest /usr/lib/postgresql/*/bin that has initdb and pg_ctl
# (or the one of MAJOR, when the data dir was made by it and it is installed)
pg_find_bin() {
    local prefer=${1:-} d found=()
    if [[ -n $prefer && -x /usr/lib/postgresql/$prefer/bin/initdb && -x /usr/lib/postgresql/$prefer/bin/pg_ctl ]]; then
        printf '%s\n' "/usr/lib/postgresql/$prefer/bin"
        return 0
    fi
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x $d/initdb && -x $d/pg_ctl ]] && found+=("$d")
    done
    ((${#found[@]})) || return 1
    printf '%s\n' "${found[@]}" | sort -V | tail -n 1
}

pg_auto_install() {
    ((EUID == 0)) || return 1
    command -v apt-get >/dev/null 2>&1 || return 1
    [[ ${CI:-} == true || ${PROPFEE_AUTO_INSTALL:-} == 1 ]] || return 1
    info "PostgreSQL server binaries not found; installing Debian's postgresql package (CI=true or PROPFEE_AUTO_INSTALL=1) ..."
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >&2 9>&- &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql </dev/null >&2 9>&-
}

pg_require_bin() {
    [[ -z $PG_BIN_DIR ]] || return 0
    local data_major=""
    [[ -n $PGDATA_DIR && -f $PGDATA_DIR/PG_VERSION ]] && data_major="$(<"$PGDATA_DIR/PG_VERSION")"
    if [[ -n ${PG_BIN:-} ]]; then
        [[ -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl && -x $PG_BIN/postgres ]] ||
            die "PG_BIN=$PG_BIN does not contain initdb, pg_ctl and postgres"
        PG_BIN_DIR=$PG_BIN
    elif ! PG_BIN_DIR="$(pg_find_bin "$data_major")"; then
        if pg_auto_install && PG_BIN_DIR="$(pg_find_bin "$data_major")"; then
            :
        else
            die "PostgreSQL server binaries not found (looked for /usr/lib/postgresql/*/bin/initdb and pg_ctl). Install them with: apt-get install -y postgresql   (or set PG_BIN=/path/to/postgresql/bin; as root, CI=true or PROPFEE_AUTO_INSTALL=1 makes 'up' install it)"
        fi
    fi
    if [[ -x $PG_BIN_DIR/psql ]]; then
        PSQL=$PG_BIN_DIR/psql
    elif command -v psql >/dev/null 2>&1; then
        PSQL="$(command -v psql)"
    else
        die "psql not found (apt-get install -y postgresql-client)"
    fi
    if [[ -n $data_major ]]; then
        local bin_major
        bin_major="$("$PG_BIN_DIR/postgres" --version | awk '{print $3}' | cut -d. -f1)"
        [[ $bin_major == "$data_major" ]] ||
            die "$PGDATA_DIR was initialised by PostgreSQL $data_major but $PG_BIN_DIR is PostgreSQL $bin_major; set PG_BIN=/usr/lib/postgresql/$data_major/bin or run '$0 reset' to start from scratch"
    fi
}

# pg_resolve_paths: where the data dir, socket dir and log live
pg_resolve_paths() {
    [[ -z $PG_ROOT ]] || return 0
    if [[ -s $PG_LOCATION_FILE ]]; then
        PG_ROOT="$(<"$PG_LOCATION_FILE")"
    else
        PG_ROOT=$PG_DEFAULT_ROOT
    fi
    PGDATA_DIR=$PG_ROOT/data
    PG_SOCK_DIR=$PG_ROOT/run
    # A unix socket path must fit in 107 bytes (".s.PGSQL.<port>" included).
    if ((${#PG_SOCK_DIR} > 85)); then
        PG_SOCK_DIR=/tmp/propfee-pg-$HOME_HASH
    fi
    if [[ $PG_ROOT == "$PG_DEFAULT_ROOT" ]]; then
        PG_LOG=$LOG_DIR/postgres.log
    else
        PG_LOG=$PG_ROOT/postgres.log
    fi
}

# as_pg CMD...: run a server command as the postgres system user when we are root
# (PostgreSQL refuses to run as root), else as ourselves.
as_pg() {
    if ((EUID == 0)); then
        (cd / && runuser -u postgres -- "$@" 9>&-)
    else
        "$@" 9>&-
    fi
}

pg_ensure_system_user() {
    ((EUID == 0)) || return 0
    command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is needed to run PostgreSQL as the postgres user"
    if ! id -u postgres >/dev/null 2>&1; then
        info "creating the 'postgres' system user (PostgreSQL refuses to run as root)"
        useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home --shell /bin/sh postgres ||
            die "useradd postgres failed"
    fi
}

# own_by_pg DIR...: hand directories to the postgres user (root only)
own_by_pg() {
    ((EUID == 0)) || return 0
    chown postgres:postgres -- "$@"
}

# pg_prepare_dirs: create the data/socket dirs; on first use pick a place the postgres user can
# reach (the default under PROPFEE_HOME, or /var/tmp/propfee-<hash> when a parent directory of
# PROPFEE_HOME is not traversable by the postgres user)
pg_prepare_dirs() {
    pg_ensure_system_user
    if [[ ! -s $PG_LOCATION_FILE && ! -f $PGDATA_DIR/PG_VERSION && $EUID -eq 0 ]]; then
        mkdir -p -- "$PG_DEFAULT_ROOT"
        own_by_pg "$PG_DEFAULT_ROOT"
        if ! as_pg test -w "$PG_DEFAULT_ROOT" -a -x "$PG_DEFAULT_ROOT"; then
            local fallback=/var/tmp/propfee-$HOME_HASH/pg
            mkdir -p -- "$fallback"
            chmod 755 -- "/var/tmp/propfee-$HOME_HASH"
            own_by_pg "$fallback"
            as_pg test -w "$fallback" || die "the postgres user cannot write to $fallback either"
            printf '%s\n' "$fallback" >"$PG_LOCATION_FILE"
            info "the postgres user cannot reach $PG_DEFAULT_ROOT (a parent directory is not traversable for it); the PostgreSQL data goes to $fallback instead (recorded in $PG_LOCATION_FILE)"
            PG_ROOT=""
            pg_resolve_paths
        fi
    fi
    mkdir -p -- "$PG_ROOT" "$PGDATA_DIR" "$PG_SOCK_DIR" "$(dirname -- "$PG_LOG")"
    chmod 700 -- "$PGDATA_DIR"
    own_by_pg "$PG_ROOT" "$PGDATA_DIR" "$PG_SOCK_DIR"
    touch -- "$PG_LOG"
    own_by_pg "$PG_LOG"
    if ((EUID == 0)) && ! as_pg test -w "$PG_LOG"; then
        chmod o+x -- "$(dirname -- "$PG_LOG")" # a restrictive umask made our logs dir 0700
    fi
    if [[ $PG_LOG != "$LOG_DIR/postgres.log" ]]; then
        ln -sfn -- "$PG_LOG" "$LOG_DIR/postgres.log"
    fi
}

pg_init_if_needed() {
    [[ -f $PGDATA_DIR/PG_VERSION ]] && return 0
    local initdb_log=$LOG_DIR/initdb.log
    local common=(-D "$PGDATA_DIR" --auth=trust --username=postgres --encoding=UTF8)
    info "initialising a PostgreSQL cluster in $PGDATA_DIR ($PG_BIN_DIR/initdb) ..."
    : >"$initdb_log"
    if ! as_pg "$PG_BIN_DIR/initdb" "${common[@]}" --locale=C.UTF-8 >>"$initdb_log" 2>&1; then
        info "initdb --locale=C.UTF-8 failed; retrying with --no-locale"
        find "$PGDATA_DIR" -mindepth 1 -delete 2>/dev/null || true
        if ! as_pg "$PG_BIN_DIR/initdb" "${common[@]}" --no-locale >>"$initdb_log" 2>&1; then
            show_log_tail "$initdb_log"
            die "initdb failed (see $initdb_log)"
        fi
    fi
    printf "\n# Propfee: settings written by deploy/local/infra.sh on every start\ninclude_if_exists = 'propfee.conf'\n" \
        >>"$PGDATA_DIR/postgresql.conf"
}

sql_quote() { printf "'%s'" "${1//\'/\'\'}"; }

pg_write_config() {
    cat >"$PGDATA_DIR/propfee.conf" <<EOF
# GENERATED by $SCRIPT_PATH on every start -- do not edit (it is overwritten)
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = $(sql_quote "$PG_SOCK_DIR")
max_connections = 400
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
# query statistics for profiling (CREATE EXTENSION pg_stat_statements in a database to read them)
shared_preload_libraries = 'pg_stat_statements'
EOF
    own_by_pg "$PGDATA_DIR/propfee.conf"
}

# pg_pid: print the postmaster's pid (first line of postmaster.pid) when it runs
pg_pid() {
    pg_resolve_paths
    local pid=""
    [[ -f $PGDATA_DIR/postmaster.pid ]] && pid="$(head -n 1 -- "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)"
    pid_matches "$pid" "postgres" || return 1
    printf '%s\n' "$pid"
}

pg_query_ok() {
    PGCONNECT_TIMEOUT=3 "$PSQL" -X -q -A -t -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
        -c 'select 1' >/dev/null 2>&1 </dev/null
}

# pg_clear_stale_lock FILE: a postmaster lock file whose postmaster is gone (killed, crashed).
# PostgreSQL removes such files itself once that pid no longer exists at all, but right after a
# SIGKILL the pid can linger a moment as an unreaped zombie, which makes the new postmaster
# refuse to start ("lock file ... already exists"). Wait for it to vanish, then remove the file.
pg_clear_stale_lock() {
    local file=$1 pid i
    [[ -f $file ]] || return 0
    pid="$(head -n 1 -- "$file" 2>/dev/null || true)"
    pid=${pid//[!0-9]/}
    if [[ -n $pid ]]; then
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            if pid_matches "$pid" "postgres"; then
                die "$file names pid $pid, which is still a running postgres; stop it first"
            fi
            sleep 0.1
        done
    fi
    info "removing the stale $file (its postmaster${pid:+, pid $pid,} is gone)"
    rm -f -- "$file"
}

pg_launch() {
    pg_prepare_dirs
    pg_init_if_needed
    pg_write_config
    pg_clear_stale_lock "$PGDATA_DIR/postmaster.pid"
    pg_clear_stale_lock "$PG_SOCK_DIR/.s.PGSQL.$PG_PORT.lock"
    info "starting postgres $("$PG_BIN_DIR/postgres" --version | awk '{print $3}') on $PG_ADDR, data $PGDATA_DIR, log $PG_LOG"
    printf '\n==== %s infra.sh: starting postgres ====\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" >>"$PG_LOG"
    if ! as_pg "$PG_BIN_DIR/pg_ctl" -D "$PGDATA_DIR" -l "$PG_LOG" -W start >/dev/null 2>>"$LOG_DIR/pg_ctl.log" </dev/null; then
        show_log_tail "$LOG_DIR/pg_ctl.log" 10
        show_log_tail "$PG_LOG"
        die "pg_ctl start failed"
    fi
    PG_STARTED_AT=$SECONDS
}

pg_wait_ready() {
    local start=${PG_STARTED_AT:-$SECONDS} next_report=5 elapsed pid
    while true; do
        elapsed=$((SECONDS - start))
        if pg_query_ok; then
            pid="$(pg_pid || echo '?')"
            info "postgres ready on $PG_ADDR (pid $pid, ${elapsed} s)"
            return 0
        fi
        # postmaster.pid appears within a moment of the start; no process after 5 s = it died
        if ((elapsed >= 5)) && ! pg_pid >/dev/null; then
            show_log_tail "$PG_LOG"
            die "postgres is not running (it exited during startup?); see $PG_LOG"
        fi
        if ((elapsed >= INFRA_TIMEOUT)); then
            show_log_tail "$PG_LOG"
            die "postgres not accepting queries on $PG_ADDR after ${INFRA_TIMEOUT} s (PROPFEE_INFRA_TIMEOUT)"
        fi
        if ((elapsed >= next_report)); then
            info "waiting for postgres on $PG_ADDR ... ${elapsed} s"
            next_report=$((next_report + 5))
        fi
        sleep 0.3
    done
}

# pg_bootstrap: the two roles and the four service databases (idempotent). The owner role
# (propfee_owner) runs the migrations and owns every schema object; the runtime role (propfee,
# the services' *_DATABASE_URL) is granted rows only, after each migration run
# (propfee.db.grant_runtime), so it cannot ALTER, DROP or disable the audit log's trigger.
# Databases made before the owner role existed (owned by propfee) are handed to the owner.
pg_bootstrap() {
    local dbs db
    dbs="$(printf "'%s'," "${SERVICES[@]}")"
    dbs=${dbs%,}
    if ! "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres >/dev/null <<SQL; then
SET client_min_messages = warning; -- no "already a member" notices on every start
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
        CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_OWNER_ROLE') THEN
        CREATE ROLE $PG_OWNER_ROLE LOGIN CREATEDB PASSWORD '$PG_OWNER_PASSWORD';
    END IF;
END
\$\$;
-- Tests and benchmarks drop their databases WITH (FORCE), which must be able to end an
-- autovacuum worker still busy there (local setup only).
GRANT pg_signal_backend TO $PG_ROLE, $PG_OWNER_ROLE;
-- The owner may act as the runtime role (e.g. drop a database the runtime role created before
-- the split), never the reverse: the runtime role is not a member of the owner role.
GRANT $PG_ROLE TO $PG_OWNER_ROLE;
SELECT format('CREATE DATABASE %I OWNER $PG_OWNER_ROLE', d)
FROM unnest(ARRAY[$dbs]) AS d
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = d)
\gexec
SELECT format('ALTER DATABASE %I OWNER TO $PG_OWNER_ROLE', d)
FROM unnest(ARRAY[$dbs]) AS d
JOIN pg_database ON datname = d
WHERE datdba = '$PG_ROLE'::regrole
\gexec
SQL
        show_log_tail "$PG_LOG"
        die "could not create the roles '$PG_ROLE', '$PG_OWNER_ROLE' and the databases ${SERVICES[*]}"
    fi
    for db in "${SERVICES[@]}"; do
        pg_hand_objects_to_owner "$db"
    done
    info "postgres: roles '$PG_OWNER_ROLE' (owner, migrations) and '$PG_ROLE' (runtime), databases ${SERVICES[*]} present"
}

# pg_hand_objects_to_owner DB: objects the runtime role still owns in DB's schema public (made
# by migrations before the owner role existed) now belong to the owner role. The runtime role
# gets its privileges back from the next migration run (any service start, or
# `python -m <service> migrate`). Nothing to do, and nothing done, on a database made by this
# version.
pg_hand_objects_to_owner() {
    local db=$1 legacy
    legacy="$("$PSQL" -X -q -A -t -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$db" -c \
        "SELECT count(*) FROM pg_class c
         WHERE c.relowner = '$PG_ROLE'::regrole AND c.relnamespace = 'public'::regnamespace
           AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                                       AND d.objid = c.oid AND d.deptype = 'e')" </dev/null)" ||
        die "could not read the owners of the objects in database '$db'"
    [[ $legacy == 0 ]] && return 0
    info "postgres: database '$db' was made before the owner role; handing its objects to '$PG_OWNER_ROLE'"
    if ! "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$db" >/dev/null <<SQL; then
DO \$\$
DECLARE
    stmt text;
BEGIN
    FOR stmt IN
        -- tables, views, sequences (a serial or identity sequence follows its table)
        SELECT format('ALTER %s %s OWNER TO $PG_OWNER_ROLE',
                      CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                     WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                                     ELSE 'TABLE' END,
                      c.oid::regclass)
        FROM pg_class c
        WHERE c.relowner = '$PG_ROLE'::regrole
          AND c.relnamespace = 'public'::regnamespace
          AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                            AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))
        UNION ALL
        -- functions and procedures (the audit log's trigger function among them)
        SELECT format('ALTER ROUTINE %s OWNER TO $PG_OWNER_ROLE', p.oid::regprocedure)
        FROM pg_proc p
        WHERE p.proowner = '$PG_ROLE'::regrole
          AND p.pronamespace = 'public'::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                            AND d.deptype = 'e')
        UNION ALL
        -- enums, domains, ranges and stand-alone composite types
        SELECT format('ALTER TYPE %s OWNER TO $PG_OWNER_ROLE', t.oid::regtype)
        FROM pg_type t
        LEFT JOIN pg_class r ON r.oid = t.typrelid
        WHERE t.typowner = '$PG_ROLE'::regrole
          AND t.typnamespace = 'public'::regnamespace
          AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND r.relkind = 'c'))
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                            AND d.deptype = 'e')
    LOOP
        EXECUTE stmt;
    END LOOP;
END
\$\$;
SQL
        show_log_tail "$PG_LOG"
        die "could not hand the objects of database '$db' to the owner role '$PG_OWNER_ROLE'"
    fi
}

pg_up() {
    local pid
    if pg_is_external; then
        info "using existing PostgreSQL (all four *_DATABASE_URL are set; not managed here)"
        return 0
    fi
    ensure_dirs
    pg_resolve_paths
    pg_require_bin
    if pid="$(pg_pid)"; then
        info "postgres already running (pid $pid) on $PG_ADDR"
        PG_STARTED_AT=$SECONDS
        return 0
    fi
    require_port_free "$PG_PORT" "PostgreSQL" PG_PORT
    pg_launch
    STARTED_SOMETHING=1
}

pg_down() {
    local pid
    if pg_is_external; then
        info "using existing PostgreSQL (all four *_DATABASE_URL are set; leaving it alone)"
        return 0
    fi
    pg_resolve_paths
    if ! pid="$(pg_pid)"; then
        info "postgres is not running"
        return 0
    fi
    # SIGTERM would be PostgreSQL's "smart" shutdown, which waits for every client to disconnect;
    # SIGINT is the "fast" shutdown (pg_ctl stop -m fast): roll back sessions, checkpoint, exit.
    info "stopping postgres (pid $pid, fast shutdown = SIGINT, up to ${STOP_TIMEOUT} s) ..."
    stop_pid postgres "$pid" "postgres" INT
}

# ---------------------------------------------------------------------------------------------
# environment for the services

effective_kafka() {
    if kafka_is_external; then printf '%s' "$KAFKA_BOOTSTRAP_SERVERS"; else printf '%s' "$KAFKA_ADDR"; fi
}

# print_env: the export lines, for eval "$(infra.sh env)"
print_env() {
    local svc var pg_ext=0
    pg_is_external && pg_ext=1
    printf 'export KAFKA_BOOTSTRAP_SERVERS=%q\n' "$(effective_kafka)"
    for svc in "${SERVICES[@]}"; do
        var="$(url_var "$svc")"
        if ((pg_ext)); then
            printf 'export %s=%q\n' "$var" "${!var}"
        else
            printf 'export %s=%q\n' "$var" "$(our_database_url "$svc")"
        fi
    done
}

# py_ready_check: the lead's stronger check (a real produce/consume and the four databases)
py_ready_check() {
    if [[ -n ${PROPFEE_INFRA_SKIP_PY_CHECK:-} ]]; then
        return 0
    fi
    [[ -f $REPO_ROOT/shared/src/propfee/admin.py ]] || return 0
    if ! command -v uv >/dev/null 2>&1; then
        warn "uv not found; skipping 'uv run python -m propfee.admin ready'"
        return 0
    fi
    info "checking end to end: uv run python -m propfee.admin ready"
    if ! (
        cd -- "$REPO_ROOT"
        eval "$(print_env)"
        uv run python -m propfee.admin ready </dev/null 9>&-
    ); then
        kafka_is_external || show_log_tail "$KAFKA_LOG"
        if ! pg_is_external; then
            pg_resolve_paths
            show_log_tail "$PG_LOG"
        fi
        die "'uv run python -m propfee.admin ready' failed"
    fi
}

# ---------------------------------------------------------------------------------------------
# The secured Kafka (start-kafka-secure): a SECOND, separate single-node KRaft broker with a
# SASL_SSL listener (SCRAM-SHA-512 over TLS), the StandardAuthorizer (no ACL = denied) and one
# Kafka user per service whose ACLs come from propfee.kafka_acls (the generator of the Helm
# chart's KafkaUsers too). Ephemeral: every start generates a new CA, broker certificate and
# passwords and formats empty storage. It never touches the main broker (KAFKA_PORT).

take_secure_lock() {
    ensure_dirs
    exec 8>"$KS_LOCK_FILE"
    flock -w 300 8 || die "could not take the lock $KS_LOCK_FILE within 300 s"
}

ks_libs_expected_marker() {
    printf 'kafka-secure %s pom-sha256=%s\n' "$KAFKA_VERSION" "$(sha256sum <"$KS_POM" | cut -d' ' -f1)"
}

# ks_find_libs: point KS_LIBS at a complete class path (PROPFEE_KAFKA_TOOLS_LIBS, else our own);
# fail when there is none yet (ks_ensure_libs then downloads our own)
ks_find_libs() {
    local dir
    for dir in ${PROPFEE_KAFKA_TOOLS_LIBS:+"$PROPFEE_KAFKA_TOOLS_LIBS"} "$KS_OWN_LIBS"; do
        if [[ -f $dir/.propfee-complete && "$(cat -- "$dir/.propfee-complete")" == "$(ks_libs_expected_marker)" ]]; then
            KS_LIBS=$dir
            KS_LIBS_MARKER=$KS_LIBS/.propfee-complete
            return 0
        fi
        if [[ $dir == "${PROPFEE_KAFKA_TOOLS_LIBS:-}" && $dir != "$KS_OWN_LIBS" ]]; then
            warn "PROPFEE_KAFKA_TOOLS_LIBS=$dir is not a complete class path of $KS_POM (no matching .propfee-complete); using $KS_OWN_LIBS"
        fi
    done
    KS_LIBS=$KS_OWN_LIBS
    KS_LIBS_MARKER=$KS_LIBS/.propfee-complete
    return 1
}

ks_ensure_libs() {
    ks_find_libs && return 0
    command -v mvn >/dev/null 2>&1 || die "Maven (mvn) not found; it is needed once to download the Kafka $KAFKA_VERSION broker and tools jars: apt-get install -y maven"
    local tmp=$KS_HOME/libs.tmp.$$ mvn_log=$LOG_DIR/maven-kafka-secure.log start=$SECONDS
    info "downloading the Kafka $KAFKA_VERSION broker and tools class path (once; Maven repo $MAVEN_REPO) ..."
    rm -rf -- "$tmp"
    if ! mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$MAVEN_REPO" \
        -f "$KS_POM" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime >"$mvn_log" 2>&1 </dev/null 8>&- 9>&-; then
        rm -rf -- "$tmp"
        show_log_tail "$mvn_log"
        die "mvn dependency:copy-dependencies failed (full output in $mvn_log)"
    fi
    [[ -f $tmp/kafka-tools-$KAFKA_VERSION.jar ]] || die "Maven finished but $tmp has no kafka-tools-$KAFKA_VERSION.jar"
    rm -rf -- "$KS_LIBS"
    mv -- "$tmp" "$KS_LIBS"
    ks_libs_expected_marker >"$KS_LIBS_MARKER"
    info "Kafka broker and tools class path ready: $(find "$KS_LIBS" -name '*.jar' | wc -l) jars in $KS_LIBS ($((SECONDS - start)) s)"
}

# ks_java CLASS ARGS...: run one of Kafka's tools on the secured broker's class path
ks_java() {
    "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
        -cp "$KS_LIBS/*" "$@" 7>&- 8>&- 9>&-
}

ks_pid() {
    local pid=""
    [[ -f $KS_PID_FILE ]] && pid="$(<"$KS_PID_FILE")"
    if pid_matches "$pid" "kafka.Kafka $KS_CONF"; then
        printf '%s\n' "$pid"
        return 0
    fi
    pid="$(pgrep -f -- "kafka.Kafka $KS_CONF" 2>/dev/null | awk 'NR == 1' || true)"
    if [[ -n $pid ]] && pid_matches "$pid" "kafka.Kafka $KS_CONF"; then
        printf '%s\n' "$pid" >"$KS_PID_FILE"
        printf '%s\n' "$pid"
        return 0
    fi
    return 1
}

# ks_tls: a CA of our own and the broker's certificate (127.0.0.1 and localhost), made now
ks_tls() {
    command -v openssl >/dev/null 2>&1 || die "openssl not found (apt-get install -y openssl)"
    local log=$LOG_DIR/kafka-secure-tls.log
    rm -rf -- "$KS_TLS"
    mkdir -p -- "$KS_TLS"
    chmod 700 "$KS_TLS"
    if ! (
        cd -- "$KS_TLS"
        openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
            -subj "/CN=Propfee local Kafka CA $HOME_HASH" -keyout ca.key -out ca.crt
        openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
            -keyout broker.key -out broker.csr
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' >broker.ext
        openssl x509 -req -sha256 -days 30 -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -extfile broker.ext -out broker.crt
        # Kafka's PEM key store: the PKCS#8 key (unencrypted) followed by the certificate chain
        openssl pkcs8 -topk8 -nocrypt -in broker.key -out broker.p8
        cat broker.p8 broker.crt ca.crt >broker.pem
        rm -f broker.csr broker.ext broker.p8 ca.srl ca.key
        chmod 600 broker.key broker.pem
    ) >"$log" 2>&1 </dev/null; then
        show_log_tail "$log"
        die "could not generate the TLS certificates (see $log)"
    fi
}

# ks_users: a fresh random password per user, in $KS_USERS/<user>.password (mode 600)
ks_users() {
    rm -rf -- "$KS_USERS"
    mkdir -p -- "$KS_USERS"
    chmod 700 "$KS_USERS"
    local user
    for user in "${KS_USER_NAMES[@]}"; do
        (umask 077 && openssl rand -hex 24 >"$KS_USERS/$user.password")
    done
}

ks_write_config() {
    local text admin_password
    admin_password="$(<"$KS_USERS/admin.password")"
    mkdir -p -- "$(dirname -- "$KS_CONF")"
    text="$(<"$KS_TEMPLATE")"
    text=${text//@PORT@/"$KAFKA_SECURE_PORT"}
    text=${text//@CONTROLLER_PORT@/"$KAFKA_SECURE_CONTROLLER_PORT"}
    text=${text//@INTERNAL_PORT@/"$KAFKA_SECURE_INTERNAL_PORT"}
    text=${text//@DATA_DIR@/"$KS_DATA"}
    text=${text//@TLS_DIR@/"$KS_TLS"}
    text=${text//@ADMIN_PASSWORD@/"$admin_password"}
    (
        umask 077
        printf '# GENERATED by %s from %s -- do not edit\n%s\n' "$SCRIPT_PATH" "$KS_TEMPLATE" "$text" >"$KS_CONF"
        cat >"$KS_ADMIN_PROPS" <<PROPS
# The administrator (super user) on the secured broker's internal listener.
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_password";
PROPS
    )
}

# ks_format: empty storage with every user's SCRAM-SHA-512 credentials
ks_format() {
    local cluster_id user format_log=$LOG_DIR/kafka-secure-format.log scram=()
    rm -rf -- "$KS_DATA"
    mkdir -p -- "$KS_DATA"
    for user in "${KS_USER_NAMES[@]}"; do
        scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$(<"$KS_USERS/$user.password")]")
    done
    : >"$format_log"
    # A Kafka cluster id is 16 random bytes in unpadded base64url (what StorageTool random-uuid
    # prints, without a JVM start); like Kafka, never one that begins with '-'.
    cluster_id=-
    while [[ $cluster_id == -* ]]; do
        cluster_id="$(openssl rand 16 | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    [[ $cluster_id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "could not make a cluster id (got '$cluster_id')"
    if ! ks_java kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$KS_CONF" \
        "${scram[@]}" >>"$format_log" 2>&1; then
        show_log_tail "$format_log"
        die "formatting the secured broker's storage failed (see $format_log)"
    fi
}

ks_is_ready() { grep -q 'Kafka Server started' "$KS_LOG" 2>/dev/null && port_open "$KAFKA_SECURE_PORT"; }

ks_launch() {
    local pid heap i
    [[ -f $KS_LOG ]] && mv -f -- "$KS_LOG" "$KS_LOG.1"
    read -r -a heap <<<"$KAFKA_SECURE_HEAP_OPTS"
    info "starting the secured kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_SECURE_PORT (SASL_SSL), internal 127.0.0.1:$KAFKA_SECURE_INTERNAL_PORT, controller 127.0.0.1:$KAFKA_SECURE_CONTROLLER_PORT; log $KS_LOG"
    (
        cd -- "$KS_HOME"
        exec setsid nohup "$JAVA" "${heap[@]}" \
            -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
            -XX:ErrorFile="$LOG_DIR/kafka-secure-hs_err_pid%p.log" \
            -Djava.awt.headless=true \
            -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
            -cp "$KS_LIBS/*" \
            kafka.Kafka "$KS_CONF"
    ) >>"$KS_LOG" 2>&1 </dev/null 8>&- 9>&- &
    pid=$!
    printf '%s\n' "$pid" >"$KS_PID_FILE"
    for ((i = 0; i < 50; i++)); do
        pid_matches "$pid" "kafka.Kafka $KS_CONF" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    local start=$SECONDS
    while ! ks_is_ready; do
        if ! ks_pid >/dev/null; then
            show_log_tail "$KS_LOG"
            die "the secured kafka exited during startup; see $KS_LOG"
        fi
        if ((SECONDS - start >= INFRA_TIMEOUT)); then
            show_log_tail "$KS_LOG"
            die "the secured kafka is not ready after ${INFRA_TIMEOUT} s; '$0 stop-kafka-secure' stops it"
        fi
        sleep 0.3
    done
    info "secured kafka ready (pid $(ks_pid), $((SECONDS - start)) s)"
}

# ks_env_lines USER: the client settings of one Kafka user (propfee.settings.KafkaSecurity)
ks_env_lines() {
    local user=$1
    if [[ $user == admin ]]; then
        printf 'export KAFKA_BOOTSTRAP_SERVERS=%q\n' "127.0.0.1:$KAFKA_SECURE_INTERNAL_PORT"
        printf 'export KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT\n'
    else
        printf 'export KAFKA_BOOTSTRAP_SERVERS=%q\n' "127.0.0.1:$KAFKA_SECURE_PORT"
        printf 'export KAFKA_SECURITY_PROTOCOL=SASL_SSL\n'
        printf 'export KAFKA_SSL_CAFILE=%q\n' "$KS_TLS/ca.crt"
    fi
    printf 'export KAFKA_SASL_MECHANISM=SCRAM-SHA-512\n'
    printf 'export KAFKA_SASL_USERNAME=%q\n' "$user"
    printf 'export KAFKA_SASL_PASSWORD_FILE=%q\n' "$KS_USERS/$user.password"
}

# ks_topics_and_acls: every declared topic (as admin, through the Python client settings) and
# the services' ACLs from propfee.kafka_acls, applied with Kafka's AclCommand (kafka-acls.sh).
# Both at once: ACLs name topics that need not exist yet.
ks_topics_and_acls() {
    local acl_log=$LOG_DIR/kafka-secure-acls.log topics_log=$LOG_DIR/kafka-secure-topics.log
    local args=() n=0 pids=() pid topics_pid commands failed=0
    command -v uv >/dev/null 2>&1 || die "uv is needed to create the topics and read the ACLs (propfee.kafka_acls)"
    (
        cd -- "$REPO_ROOT"
        eval "$(ks_env_lines admin)"
        export PROPFEE_TOPIC_PREFIX=${KAFKA_SECURE_TOPIC_PREFIX:-}
        exec uv run --frozen python -m propfee.admin topics </dev/null 8>&- 9>&-
    ) >"$topics_log" 2>&1 &
    topics_pid=$!
    : >"$acl_log"
    commands="$(cd -- "$REPO_ROOT" && uv run --frozen python -m propfee.kafka_acls --prefix "${KAFKA_SECURE_TOPIC_PREFIX:-}" 2>>"$acl_log" </dev/null 8>&- 9>&-)" ||
        die "python -m propfee.kafka_acls failed (see $acl_log)"
    while IFS=$'\t' read -r -a args; do
        ((${#args[@]})) || continue
        ks_java org.apache.kafka.tools.AclCommand --bootstrap-server "127.0.0.1:$KAFKA_SECURE_INTERNAL_PORT" \
            --command-config "$KS_ADMIN_PROPS" --add "${args[@]}" >>"$acl_log.$n" 2>&1 &
        pids+=($!)
        n=$((n + 1))
    done <<<"$commands"
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=1
    done
    for ((i = 0; i < n; i++)); do
        cat -- "$acl_log.$i" >>"$acl_log"
        rm -f -- "$acl_log.$i"
    done
    ((failed == 0)) || {
        show_log_tail "$acl_log"
        die "kafka-acls (AclCommand) failed (see $acl_log)"
    }
    if ! wait "$topics_pid"; then
        show_log_tail "$topics_log"
        die "creating the topics on the secured kafka failed (see $topics_log)"
    fi
    info "secured kafka: topics created, $n kafka-acls runs from propfee.kafka_acls applied (logs $topics_log, $acl_log)"
}

cmd_start_kafka_secure() {
    take_secure_lock
    local t0=$SECONDS pid
    if pid="$(ks_pid)"; then
        info "the secured kafka already runs (pid $pid) on 127.0.0.1:$KAFKA_SECURE_PORT; '$0 stop-kafka-secure' first for a fresh one"
        return 0
    fi
    require_java
    [[ -f $KS_TEMPLATE ]] || die "missing $KS_TEMPLATE"
    require_port_free "$KAFKA_SECURE_PORT" "the secured Kafka" KAFKA_SECURE_PORT
    require_port_free "$KAFKA_SECURE_INTERNAL_PORT" "the secured Kafka's internal listener" KAFKA_SECURE_INTERNAL_PORT
    require_port_free "$KAFKA_SECURE_CONTROLLER_PORT" "the secured Kafka's controller" KAFKA_SECURE_CONTROLLER_PORT
    mkdir -p -- "$KS_HOME"
    ks_ensure_libs
    ks_tls
    ks_users
    ks_write_config
    ks_format
    ks_launch
    ks_topics_and_acls
    info "secured kafka up ($((SECONDS - t0)) s). A service's client settings: eval \"\$($0 env-kafka-secure billing)\""
}

cmd_stop_kafka_secure() {
    take_secure_lock
    ks_down
}

ks_down() {
    local pid
    if ! pid="$(ks_pid)"; then
        info "the secured kafka is not running"
        rm -f -- "$KS_PID_FILE"
        return 0
    fi
    info "stopping the secured kafka (pid $pid) ..."
    stop_pid "secured kafka" "$pid" "kafka.Kafka $KS_CONF" TERM
    rm -f -- "$KS_PID_FILE"
}

cmd_env_kafka_secure() {
    local user=${1:-admin}
    [[ " ${KS_USER_NAMES[*]} " == *" $user "* ]] || die "no Kafka user '$user' on the secured broker; users: ${KS_USER_NAMES[*]}"
    [[ -f $KS_USERS/$user.password ]] || die "the secured kafka has not been started ('$0 start-kafka-secure')"
    ks_env_lines "$user"
}

# ---------------------------------------------------------------------------------------------
# The 3-node Kafka cluster (start-kafka-cluster): a THIRD, separate Kafka of three KRaft nodes in
# combined mode (each one a broker and one of the 3 controller voters), with the topics'
# production settings (replication factor 3, min.insync.replicas=2, no unclean leader election,
# no automatic topic creation). For the fault suite: a node can be killed (kill -9) and started
# again on its data. Every start-kafka-cluster with no node running formats fresh, empty storage;
# start-kafka-node restarts one node on its existing data. Never touches the main broker.

KC_SRC_DIR=$SCRIPT_DIR/kafka-cluster
KC_TEMPLATE=$KC_SRC_DIR/server.properties.template
KC_HOME=$PROPFEE_HOME/kafka-cluster
KC_LOCK_FILE=$PROPFEE_HOME/kafka-cluster.lock
KC_NODES=(1 2 3)

kc_port() { printf '%s' "$((10#$KAFKA_CLUSTER_PORT_BASE + ($1 - 1) * 100))"; }
kc_controller_port() { printf '%s' "$((10#$KAFKA_CLUSTER_PORT_BASE + ($1 - 1) * 100 + 1))"; }
kc_conf() { printf '%s' "$KC_HOME/node$1/config/server.properties"; }
kc_data() { printf '%s' "$KC_HOME/node$1/data"; }
kc_log() { printf '%s' "$LOG_DIR/kafka-cluster-node$1.log"; }
kc_pid_file() { printf '%s' "$RUN_DIR/kafka-cluster-node$1.pid"; }
kc_bootstrap() {
    local n out=""
    for n in "${KC_NODES[@]}"; do out+="${out:+,}127.0.0.1:$(kc_port "$n")"; done
    printf '%s' "$out"
}
kc_controllers() {
    local n out=""
    for n in "${KC_NODES[@]}"; do out+="${out:+,}127.0.0.1:$(kc_controller_port "$n")"; done
    printf '%s' "$out"
}
kc_voters() {
    local n out=""
    for n in "${KC_NODES[@]}"; do out+="${out:+,}$n@127.0.0.1:$(kc_controller_port "$n")"; done
    printf '%s' "$out"
}

kc_check_node() {
    [[ ${1:-} =~ ^[1-3]$ ]] || die "a node number is 1, 2 or 3 (got '${1:-}')"
}

take_cluster_lock() {
    ensure_dirs
    exec 7>"$KC_LOCK_FILE"
    flock -w 300 7 || die "could not take the lock $KC_LOCK_FILE within 300 s"
}

# kc_pid N: the pid of node N's JVM (pid file; or found by its unique config path)
kc_pid() {
    local n=$1 pid="" conf pid_file
    conf="$(kc_conf "$n")"
    pid_file="$(kc_pid_file "$n")"
    [[ -f $pid_file ]] && pid="$(<"$pid_file")"
    if pid_matches "$pid" "kafka.Kafka $conf"; then
        printf '%s\n' "$pid"
        return 0
    fi
    pid="$(pgrep -f -- "kafka.Kafka $conf" 2>/dev/null | awk 'NR == 1' || true)"
    if [[ -n $pid ]] && pid_matches "$pid" "kafka.Kafka $conf"; then
        printf '%s\n' "$pid" >"$pid_file"
        printf '%s\n' "$pid"
        return 0
    fi
    return 1
}

# kc_is_ready N: the node logged "Kafka Server started" (a KRaft broker logs it once the active
# controller has unfenced it, so the quorum has a leader) and its broker port accepts connections.
kc_is_ready() { grep -q 'Kafka Server started' "$(kc_log "$1")" 2>/dev/null && port_open "$(kc_port "$1")"; }

kc_write_config() {
    local n=$1 text conf
    conf="$(kc_conf "$n")"
    mkdir -p -- "$(dirname -- "$conf")"
    text="$(<"$KC_TEMPLATE")"
    text=${text//@NODE_ID@/"$n"}
    text=${text//@PORT@/"$(kc_port "$n")"}
    text=${text//@CONTROLLER_PORT@/"$(kc_controller_port "$n")"}
    text=${text//@VOTERS@/"$(kc_voters)"}
    text=${text//@DATA_DIR@/"$(kc_data "$n")"}
    printf '# GENERATED by %s from %s -- do not edit\n%s\n' "$SCRIPT_PATH" "$KC_TEMPLATE" "$text" >"$conf"
}

# kc_format: fresh, empty storage on the three nodes (one cluster id; the three formats run at once)
kc_format() {
    local cluster_id n pids=() failed=0 format_log=$LOG_DIR/kafka-cluster-format.log
    cluster_id=-
    while [[ $cluster_id == -* ]]; do
        cluster_id="$(openssl rand 16 | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    [[ $cluster_id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "could not make a cluster id (got '$cluster_id')"
    for n in "${KC_NODES[@]}"; do
        rm -rf -- "$(kc_data "$n")"
        mkdir -p -- "$(kc_data "$n")"
        kc_write_config "$n"
        ks_java kafka.tools.StorageTool format -t "$cluster_id" -c "$(kc_conf "$n")" >"$format_log.$n" 2>&1 &
        pids+=($!)
    done
    for n in "${!pids[@]}"; do
        wait "${pids[$n]}" || failed=1
    done
    : >"$format_log"
    for n in "${KC_NODES[@]}"; do
        cat -- "$format_log.$n" >>"$format_log"
        rm -f -- "$format_log.$n"
    done
    ((failed == 0)) || {
        show_log_tail "$format_log"
        die "formatting the cluster's storage failed (see $format_log)"
    }
    printf '%s\n' "$cluster_id" >"$KC_HOME/cluster-id"
}

# kc_launch N: start node N on its data (no waiting for readiness)
kc_launch() {
    local n=$1 pid heap i conf log
    conf="$(kc_conf "$n")"
    log="$(kc_log "$n")"
    [[ -f $(kc_data "$n")/meta.properties ]] || die "node $n has no formatted storage in $(kc_data "$n"); '$0 start-kafka-cluster' (with no node running) makes a fresh cluster"
    require_port_free "$(kc_port "$n")" "kafka cluster node $n" KAFKA_CLUSTER_PORT_BASE
    require_port_free "$(kc_controller_port "$n")" "kafka cluster node $n's controller" KAFKA_CLUSTER_PORT_BASE
    kc_write_config "$n"
    [[ -f $log ]] && mv -f -- "$log" "$log.1"
    read -r -a heap <<<"$KAFKA_CLUSTER_HEAP_OPTS"
    info "starting kafka cluster node $n on 127.0.0.1:$(kc_port "$n") (controller 127.0.0.1:$(kc_controller_port "$n")); log $log"
    (
        cd -- "$KC_HOME"
        # A test cluster of three JVMs on a small, shared machine: the client compiler only
        # (C1; less CPU at start, where these nodes spend most of their life) and a single-threaded
        # collector (a small heap; short pauses anyway).
        exec setsid nohup "$JAVA" "${heap[@]}" \
            -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError \
            -XX:ErrorFile="$LOG_DIR/kafka-cluster-node$n-hs_err_pid%p.log" \
            -Djava.awt.headless=true \
            -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
            -cp "$KS_LIBS/*" \
            kafka.Kafka "$conf"
    ) >>"$log" 2>&1 </dev/null 7>&- 8>&- 9>&- &
    pid=$!
    printf '%s\n' "$pid" >"$(kc_pid_file "$n")"
    for ((i = 0; i < 50; i++)); do
        pid_matches "$pid" "kafka.Kafka $conf" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
}

# kc_wait_ready N...: wait until every given node is ready
kc_wait_ready() {
    local start=$SECONDS n pending=("$@") still next_report=10
    while ((${#pending[@]})); do
        still=()
        for n in "${pending[@]}"; do
            if kc_is_ready "$n"; then
                info "kafka cluster node $n ready on 127.0.0.1:$(kc_port "$n") (pid $(kc_pid "$n" || echo '?'), $((SECONDS - start)) s)"
                continue
            fi
            if ! kc_pid "$n" >/dev/null; then
                show_log_tail "$(kc_log "$n")"
                die "kafka cluster node $n exited during startup; see $(kc_log "$n")"
            fi
            still+=("$n")
        done
        pending=("${still[@]}")
        ((${#pending[@]})) || break
        if ((SECONDS - start >= INFRA_TIMEOUT)); then
            for n in "${pending[@]}"; do show_log_tail "$(kc_log "$n")" 20; done
            die "kafka cluster node(s) ${pending[*]} not ready after ${INFRA_TIMEOUT} s (a node waits for a quorum: 2 of 3 controllers); '$0 stop-kafka-cluster' stops them"
        fi
        if ((SECONDS - start >= next_report)); then
            info "waiting for kafka cluster node(s) ${pending[*]} ... $((SECONDS - start)) s"
            next_report=$((next_report + 10))
        fi
        sleep 0.3
    done
}

kc_preflight() {
    require_java
    command -v openssl >/dev/null 2>&1 || die "openssl not found (apt-get install -y openssl)"
    [[ -f $KC_TEMPLATE ]] || die "missing $KC_TEMPLATE"
    [[ -f $KAFKA_LOG4J ]] || die "missing $KAFKA_LOG4J"
    mkdir -p -- "$KC_HOME" "$KS_HOME"
    ks_ensure_libs
}

cmd_start_kafka_cluster() {
    take_cluster_lock
    local t0=$SECONDS n running=() missing=()
    for n in "${KC_NODES[@]}"; do
        if kc_pid "$n" >/dev/null; then running+=("$n"); else missing+=("$n"); fi
    done
    kc_preflight
    if ((${#running[@]} == 0)); then
        for n in "${KC_NODES[@]}"; do
            require_port_free "$(kc_port "$n")" "kafka cluster node $n" KAFKA_CLUSTER_PORT_BASE
            require_port_free "$(kc_controller_port "$n")" "kafka cluster node $n's controller" KAFKA_CLUSTER_PORT_BASE
        done
        info "formatting fresh storage for the 3-node kafka cluster in $KC_HOME ..."
        kc_format
    elif ((${#missing[@]})); then
        info "kafka cluster node(s) ${running[*]} already run; starting node(s) ${missing[*]} on their data"
    fi
    for n in "${missing[@]}"; do kc_launch "$n"; done
    kc_wait_ready "${KC_NODES[@]}"
    info "kafka cluster up ($((SECONDS - t0)) s): eval \"\$($0 env-kafka-cluster)\""
}

cmd_stop_kafka_cluster() {
    take_cluster_lock
    local n pid pids=() confs=() nodes=() waited=0 i alive
    for n in "${KC_NODES[@]}"; do
        pid="$(kc_pid "$n")" || continue
        nodes+=("$n")
        pids+=("$pid")
        confs+=("$(kc_conf "$n")")
    done
    if ((${#pids[@]} == 0)); then
        info "the kafka cluster is not running"
    else
        # All at once: a node's controlled shutdown needs the controller quorum, which stopping
        # the nodes one by one would break before the last one is done.
        info "stopping kafka cluster node(s) ${nodes[*]} (pids ${pids[*]}, SIGTERM, SIGKILL after ${KAFKA_CLUSTER_STOP_TIMEOUT} s) ..."
        kill -TERM "${pids[@]}" 2>/dev/null || true
        while true; do
            alive=()
            for i in "${!pids[@]}"; do
                pid_matches "${pids[$i]}" "kafka.Kafka ${confs[$i]}" && alive+=("$i")
            done
            ((${#alive[@]})) || break
            if ((waited >= KAFKA_CLUSTER_STOP_TIMEOUT * 10)); then
                for i in "${alive[@]}"; do
                    warn "kafka cluster node ${nodes[$i]} (pid ${pids[$i]}) did not stop within ${KAFKA_CLUSTER_STOP_TIMEOUT} s; sending SIGKILL"
                    kill -KILL "${pids[$i]}" 2>/dev/null || true
                done
                sleep 0.5
                break
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
        info "kafka cluster stopped ($((waited / 10)) s)"
    fi
    for n in "${KC_NODES[@]}"; do rm -f -- "$(kc_pid_file "$n")"; done
}

cmd_env_kafka_cluster() {
    printf 'export KAFKA_BOOTSTRAP_SERVERS=%s\n' "$(kc_bootstrap)" # digits, dots, colons, commas: no quoting
}

cmd_kill_kafka_node() {
    local n=${1:-} pid i
    kc_check_node "$n"
    if ! pid="$(kc_pid "$n")"; then
        info "kafka cluster node $n is not running"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        pid_matches "$pid" "kafka.Kafka $(kc_conf "$n")" || break
        sleep 0.05
    done
    rm -f -- "$(kc_pid_file "$n")"
    info "kafka cluster node $n killed (kill -9, pid $pid)"
}

cmd_start_kafka_node() {
    local n=${1:-} pid
    kc_check_node "$n"
    take_cluster_lock
    if pid="$(kc_pid "$n")"; then
        info "kafka cluster node $n already runs (pid $pid)"
    else
        kc_preflight
        kc_launch "$n"
    fi
    kc_wait_ready "$n"
}

# kc_quorum ARGS...: Kafka's kafka-metadata-quorum tool (MetadataQuorumCommand), asking the
# controllers directly
kc_quorum() {
    ks_java org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-controller "$(kc_controllers)" "$@" </dev/null
}

cmd_kafka_cluster_leader() {
    local out leader
    require_java
    ks_find_libs 2>/dev/null || die "no Kafka tools class path yet in $KS_LIBS ('$0 start-kafka-cluster' first)"
    out="$(kc_quorum describe --status 2>&1)" || {
        printf '%s\n' "$out" | tail -n 5 >&2
        die "kafka-metadata-quorum describe --status failed (is the cluster running, with 2 of 3 nodes up?)"
    }
    leader="$(awk -F':[[:space:]]*' '$1 == "LeaderId" {print $2}' <<<"$out")"
    [[ $leader =~ ^[0-9]+$ ]] || die "no LeaderId in the quorum's status: $out"
    printf '%s\n' "$leader"
}

cmd_kafka_cluster_status() {
    local n pid state any=0
    for n in "${KC_NODES[@]}"; do
        if pid="$(kc_pid "$n")"; then
            any=1
            state=ready
            kc_is_ready "$n" || state="starting (not ready yet)"
            echo "node $n: running (pid $pid, broker 127.0.0.1:$(kc_port "$n"), controller 127.0.0.1:$(kc_controller_port "$n")) $state; log $(kc_log "$n")"
        else
            echo "node $n: stopped (broker 127.0.0.1:$(kc_port "$n"), controller 127.0.0.1:$(kc_controller_port "$n"))"
        fi
    done
    ((any)) && return 0
    return 3
}

# ---------------------------------------------------------------------------------------------
# commands

cmd_up() {
    take_lock
    STARTED_SOMETHING=0
    local t0=$SECONDS
    # Preflight both before starting either, so that a missing tool or a busy port fails fast.
    if ! kafka_is_external && ! kafka_pid >/dev/null; then
        kafka_preflight
        require_port_free "$KAFKA_PORT" "Kafka" KAFKA_PORT
        require_port_free "$KAFKA_CONTROLLER_PORT" "the Kafka controller" KAFKA_CONTROLLER_PORT
    fi
    if ! pg_is_external; then
        pg_resolve_paths
        pg_require_bin
        pg_pid >/dev/null || require_port_free "$PG_PORT" "PostgreSQL" PG_PORT
    fi
    # PostgreSQL first (pg_ctl returns at once), then Kafka: both boot at the same time.
    pg_up
    kafka_up
    if ! pg_is_external; then
        pg_wait_ready
        pg_bootstrap
    fi
    if ((STARTED_SOMETHING)); then
        py_ready_check
    fi
    info "up ($((SECONDS - t0)) s). For the services: eval \"\$($0 env)\""
}

cmd_down() {
    take_lock
    # The secured broker too, when one runs (it is only ever started by start-kafka-secure).
    if ks_pid >/dev/null; then
        take_secure_lock
        ks_down
    fi
    # And the 3-node cluster's nodes (only ever started by start-kafka-cluster / start-kafka-node).
    if kc_pid 1 >/dev/null || kc_pid 2 >/dev/null || kc_pid 3 >/dev/null; then
        cmd_stop_kafka_cluster
    fi
    kafka_down
    pg_down
}

cmd_start_kafka() {
    take_lock
    STARTED_SOMETHING=0
    kafka_up
}

cmd_stop_kafka() {
    take_lock
    kafka_down
}

cmd_start_postgres() {
    take_lock
    STARTED_SOMETHING=0
    pg_up
    if ! pg_is_external; then
        pg_wait_ready
        pg_bootstrap
    fi
}

cmd_stop_postgres() {
    take_lock
    pg_down
}

cmd_status() {
    local ok=1 pid state
    if kafka_is_external; then
        echo "kafka:    external at $KAFKA_BOOTSTRAP_SERVERS (KAFKA_BOOTSTRAP_SERVERS; not managed here)"
    elif pid="$(kafka_pid)"; then
        state=ready
        kafka_is_ready || state="starting (not ready yet)"
        echo "kafka:    running (pid $pid, $KAFKA_ADDR, controller 127.0.0.1:$KAFKA_CONTROLLER_PORT) $state; log $KAFKA_LOG"
    else
        echo "kafka:    stopped"
        ok=0
    fi
    if pg_is_external; then
        echo "postgres: external (*_DATABASE_URL set; not managed here)"
    else
        pg_resolve_paths
        if pid="$(pg_pid)"; then
            echo "postgres: running (pid $pid, $PG_ADDR, data $PGDATA_DIR); log $PG_LOG"
        else
            echo "postgres: stopped"
            ok=0
        fi
    fi
    ((ok)) && return 0
    return 3
}

cmd_logs() {
    local what=${1:-all} files=()
    pg_resolve_paths
    case $what in
    kafka) files=("$KAFKA_LOG") ;;
    postgres | pg) files=("$PG_LOG") ;;
    all | "") files=("$KAFKA_LOG" "$PG_LOG") ;;
    *) die "usage: $0 logs [kafka|postgres]" ;;
    esac
    exec tail -n 100 -F -- "${files[@]}"
}

# cmd_psql OWNER [DB] [psql args]: OWNER=1 connects as the owner role (schema changes by hand)
cmd_psql() {
    local owner=$1 db url var
    shift
    db=${1:-}
    if [[ $db == -* ]]; then
        db="" # only psql options: superuser session
    elif [[ $# -gt 0 ]]; then
        shift
    fi
    if [[ -z $db && $owner == 1 ]]; then
        die "give a database: $0 psql-owner billing"
    elif [[ -z $db ]]; then
        pg_is_external && die "PostgreSQL is external; give a database: $0 psql billing"
        url="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
    elif [[ $owner == 1 ]]; then
        pg_is_external && die "PostgreSQL is external; connect as its owner role yourself"
        url="$(our_owner_url "$db")"
    elif [[ " ${SERVICES[*]} " == *" $db "* ]]; then
        var="$(url_var "$db")"
        if pg_is_external; then url=${!var}; else url="$(our_database_url "$db")"; fi
    else
        url="$(our_database_url "$db")"
    fi
    if [[ -z $PSQL ]]; then
        if command -v psql >/dev/null 2>&1; then
            PSQL="$(command -v psql)"
        else
            pg_resolve_paths
            pg_require_bin
        fi
    fi
    exec "$PSQL" "$url" "$@"
}

cmd_reset() {
    take_lock
    kafka_is_external || kafka_down
    pg_is_external || pg_down
    pg_resolve_paths
    info "deleting Kafka data ($KAFKA_DATA) and PostgreSQL data ($PGDATA_DIR); downloads are kept"
    rm -rf -- "${KAFKA_DATA:?}" "${KAFKA_CLUSTER_ID_FILE:?}" "${KAFKA_FORMATTED_FILE:?}" "${KAFKA_CONF:?}"
    rm -rf -- "${PGDATA_DIR:?}"
    if [[ $PG_ROOT != "$PG_DEFAULT_ROOT" ]]; then
        rm -rf -- "${PG_ROOT:?}"
        rmdir -- "$(dirname -- "$PG_ROOT")" 2>/dev/null || true
        rm -f -- "$PG_LOCATION_FILE" "$LOG_DIR/postgres.log"
    fi
    info "reset done; '$0 up' starts from scratch"
}

usage() {
    cat <<EOF
usage: $0 COMMAND

  up                    start PostgreSQL and Kafka (idempotent), wait until both are ready
  down                  stop both (SIGTERM / PostgreSQL fast shutdown; SIGKILL after ${STOP_TIMEOUT} s)
  status                running/stopped for each; exit 0 when both run, 3 otherwise
  env                   print export lines: eval "\$($0 env)"
  logs [kafka|postgres] tail -F the logs
  psql [db] [args]      psql into a service database as $PG_ROLE, the runtime role (no db: superuser postgres)
  psql-owner db [args]  psql into a database as $PG_OWNER_ROLE, the owner role (migrations, DDL)
  start-kafka | stop-kafka | start-postgres | stop-postgres
  reset                 down, then delete the Kafka and PostgreSQL data (keeps the downloads)
  start-kafka-secure    start a SECOND, separate Kafka with SASL_SSL (SCRAM-SHA-512), the
                        StandardAuthorizer and the services' ACLs (fresh and empty each time)
  stop-kafka-secure     stop it (the main Kafka is left alone)
  env-kafka-secure [u]  export lines of Kafka user u (admin, ${SERVICES[*]}) on the secured Kafka
  start-kafka-cluster   start a THIRD, separate Kafka: 3 KRaft nodes (broker+controller each, a
                        3-voter quorum), RF 3, min.insync.replicas=2, no unclean election; fresh
                        and empty when no node runs, else starts the missing nodes; waits for all 3
  stop-kafka-cluster    stop its nodes (SIGTERM all at once, SIGKILL after ${KAFKA_CLUSTER_STOP_TIMEOUT} s)
  env-kafka-cluster     print export KAFKA_BOOTSTRAP_SERVERS=<the 3 brokers>
  kill-kafka-node N     kill -9 node N (1..3)
  start-kafka-node N    start node N again on its data; wait until it has rejoined
  kafka-cluster-leader  print the node id of the quorum leader (the active controller)
  kafka-cluster-status  each node: running or stopped, pid, ports; exit 3 when none runs
  (topics on the cluster: eval "\$($0 env-kafka-cluster)"; uv run python -m propfee.admin topics --production)

PROPFEE_HOME=$PROPFEE_HOME  KAFKA_PORT=$KAFKA_PORT  KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT  PG_PORT=$PG_PORT
KAFKA_CLUSTER_PORT_BASE=$KAFKA_CLUSTER_PORT_BASE (node N: broker BASE+(N-1)*100, controller +1)  KAFKA_CLUSTER_HEAP_OPTS=$KAFKA_CLUSTER_HEAP_OPTS
PROPFEE_KAFKA_TOOLS_LIBS: an existing broker+tools class path (e.g. another PROPFEE_HOME's kafka-secure/libs) to use instead of downloading
EOF
}

main() {
    local cmd=${1:-help}
    [[ $# -gt 0 ]] && shift
    case $cmd in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) print_env ;;
    logs) cmd_logs "$@" ;;
    psql) cmd_psql 0 "$@" ;;
    psql-owner) cmd_psql 1 "$@" ;;
    start-kafka) cmd_start_kafka ;;
    stop-kafka) cmd_stop_kafka ;;
    start-postgres) cmd_start_postgres ;;
    stop-postgres) cmd_stop_postgres ;;
    reset) cmd_reset ;;
    start-kafka-secure) cmd_start_kafka_secure ;;
    stop-kafka-secure) cmd_stop_kafka_secure ;;
    env-kafka-secure) cmd_env_kafka_secure "$@" ;;
    start-kafka-cluster) cmd_start_kafka_cluster ;;
    stop-kafka-cluster) cmd_stop_kafka_cluster ;;
    env-kafka-cluster) cmd_env_kafka_cluster ;;
    kill-kafka-node) cmd_kill_kafka_node "$@" ;;
    start-kafka-node) cmd_start_kafka_node "$@" ;;
    kafka-cluster-leader) cmd_kafka_cluster_leader ;;
    kafka-cluster-status) cmd_kafka_cluster_status ;;
    help | -h | --help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
}

main "$@"
