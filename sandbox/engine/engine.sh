#!/usr/bin/env bash
# The sandbox's Docker-API engine: `podman system service` serving the Docker Engine API on
# one fleet's own unix socket, for the hosts of the `docker` runtime (community.docker and the
# python `docker` SDK talk to it as to Docker). One engine per fleet, so side-by-side fleets
# never stop each other's.
#
# usage: sandbox/engine/engine.sh start|stop|status SOCKET [LOG]
#   start   start the service unless one already answers on SOCKET (prints "started" or "reusing")
#   stop    stop the service this script started on SOCKET (its pid is in SOCKET.pid)
#   status  exit 0 when the engine answers on SOCKET
set -euo pipefail

action=${1:-}
sock=${2:-}
log=${3:-/dev/null}
pidfile="$sock.pid"

die() { printf 'engine: error: %s\n' "$*" >&2; exit 1; }
[ -n "$action" ] && [ -n "$sock" ] || die "usage: $0 start|stop|status SOCKET [LOG]"

answers() { podman --url "unix://$sock" version >/dev/null 2>&1; }

# The pid in the pid file, if it is still the service serving this socket.
our_pid() {
    local pid
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "system service .*unix://$sock" || return 1
    echo "$pid"
}

case "$action" in
start)
    if answers; then
        echo reusing
        exit 0
    fi
    mkdir -p "$(dirname "$sock")"
    rm -f "$sock"
    setsid podman system service --time=0 "unix://$sock" >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 60); do
        if answers; then
            echo started
            exit 0
        fi
        sleep 0.5
    done
    die "podman system service did not answer on $sock within 30 s (see $log)"
    ;;
stop)
    if pid=$(our_pid); then
        kill -TERM "$pid"
        for _ in $(seq 1 40); do
            [ -d "/proc/$pid" ] || break
            sleep 0.25
        done
        [ -d "/proc/$pid" ] && kill -KILL "$pid"
        rm -f "$pidfile" "$sock"
        echo stopped
    else
        rm -f "$pidfile"
        echo "not running"
    fi
    ;;
status)
    answers
    ;;
*)
    die "unknown action '$action'"
    ;;
esac
