# shellcheck shell=bash
# Shared helpers for the .ci/ scripts: step headers, per-step timing, errors.
# Sourced, never run. Each script stays runnable on its own.

# Where CI keeps state between runs on the same machine.
STAGELINE_CACHE_DIR=${STAGELINE_CACHE_DIR:-/var/cache/stageline}   # expensive artefacts
STAGELINE_STATE_DIR=${STAGELINE_STATE_DIR:-/var/lib/stageline}     # service data (registry)
STAGELINE_LOG_DIR=${STAGELINE_LOG_DIR:-/var/log/stageline}         # service logs

export DEBIAN_FRONTEND=noninteractive

# Print a message to stderr and stop the script.
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Print an indented progress note under the current step header.
note() {
    printf '    %s\n' "$*"
}

# Run "$@" as one named step: a header line, then its duration.
# When STAGELINE_TIMINGS names a file (set by .ci/run), each step is recorded
# in it as "depth<TAB>seconds<TAB>title" ("running" until it ends; nested
# scripts record deeper steps), so .ci/run can print a summary at the end.
# A step that fails stops the script (set -e) and stays "running" there.
step() {
    local title=$1 start=$SECONDS depth=${STAGELINE_STEP_DEPTH:-0} line=""
    shift
    # Top-level steps get "==>", steps of a nested script "-->", indented.
    local indent
    printf -v indent '%*s' $((depth * 2)) ''
    if ((depth == 0)); then
        printf '==> %s\n' "$title"
    else
        printf '%s--> %s\n' "$indent" "$title"
    fi
    if [[ -n ${STAGELINE_TIMINGS:-} ]]; then
        printf '%s\trunning\t%s\n' "$depth" "$title" >>"$STAGELINE_TIMINGS"
        line=$(wc -l <"$STAGELINE_TIMINGS")
    fi
    export STAGELINE_STEP_DEPTH=$((depth + 1))
    "$@"
    export STAGELINE_STEP_DEPTH=$depth
    local took=$((SECONDS - start))
    printf '%s    [%s: %ss]\n' "$indent" "$title" "$took"
    if [[ -n $line ]]; then
        sed -i "${line}s/\trunning\t/\t${took}\t/" "$STAGELINE_TIMINGS"
    fi
}

# Start "${@:2}" as a daemon that outlives this script: its own session,
# stdin from /dev/null, output appended to the log $1, and no other inherited
# file descriptors (a CI runner may wait until every holder of its pipes exits).
# Sets DAEMON_PID.
start_daemon() {
    local log=$1
    shift
    (
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            if ((fd > 2)); then
                eval "exec $fd>&-" 2>/dev/null || true
            fi
        done
        exec setsid "$@" </dev/null >>"$log" 2>&1
    ) &
    # shellcheck disable=SC2034  # read by the caller
    DAEMON_PID=$!
}

# Wait up to $1 seconds for the command "${@:2}" to succeed (checked every second).
# Returns 1 on timeout. With WAIT_PID set, returns 2 as soon as that process exits.
wait_until() {
    local timeout=$1 waited=0
    shift
    until "$@" >/dev/null 2>&1; do
        if [[ -n ${WAIT_PID:-} ]] && ! kill -0 "$WAIT_PID" 2>/dev/null; then
            return 2
        fi
        if ((waited >= timeout)); then
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

# The main engine: its pidfile and the pidfile of the containerd it manages.
DOCKERD_PIDFILE=/var/run/docker.pid
MANAGED_CONTAINERD_PIDFILE=/var/run/docker/containerd/containerd.pid

# Print the pid in the pidfile $1 if that process is named $2 (else nothing).
pid_of() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    if [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]]; then
        echo "$pid"
    fi
}

# Send SIGTERM to pid $1 and wait up to 30 s for it to exit, then SIGKILL it.
stop_pid() {
    local pid=$1 waited=0
    kill "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && ((waited < 30)); do
        sleep 1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

# Stop the main engine (the dockerd in DOCKERD_PIDFILE) and the containerd it
# started; no other daemon (the tests' own dockerds have their own pidfiles).
stop_main_engine() {
    local dockerd containerd
    dockerd=$(pid_of "$DOCKERD_PIDFILE" dockerd)
    if [[ -n $dockerd ]]; then
        note "stopping dockerd (pid $dockerd)"
        stop_pid "$dockerd"
    fi
    # dockerd stops its containerd itself; one left behind (dockerd killed) goes too.
    containerd=$(pid_of "$MANAGED_CONTAINERD_PIDFILE" containerd)
    if [[ -n $containerd ]]; then
        note "stopping the engine's containerd (pid $containerd)"
        stop_pid "$containerd"
    fi
    rm -f "$DOCKERD_PIDFILE"
}
