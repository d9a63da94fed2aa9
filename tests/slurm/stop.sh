#!/usr/bin/env bash
# Stop the daemons tests/slurm/start.sh STATE_DIR started (by pid, newest first) and remove the
# config links it made under /etc/slurm; nothing else.
set -uo pipefail
state=$(realpath -m "${1:?usage: stop.sh STATE_DIR}")
[ -f "$state/started.pids" ] || exit 0
export SLURM_CONF=$state/slurm.conf
scancel --name='*' >/dev/null 2>&1 || true
tac "$state/started.pids" | while read -r name pid; do
    if [ "$name" = link ]; then  # a config link start.sh made under /etc/slurm
        [ -L "$pid" ] && [[ "$(readlink "$pid")" == "$state"/* ]] && rm -f "$pid"
        continue
    fi
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "stop.sh: stopped $name ($pid)" >&2
done
: > "$state/started.pids"
