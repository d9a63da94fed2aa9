#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine for the SLURM test: localhost, a fake gpu:1 GRES,
# no accounting (so the executor checks status with squeue, profiles/slurm-local).
#   tests/slurm/start.sh STATE_DIR   then   export SLURM_CONF=STATE_DIR/slurm.conf
# Installs slurm-wlm and munge with apt-get when slurmctld is missing (needs root).
# Writes everything under STATE_DIR (config, spool, logs) and records the pid of each daemon it
# starts in STATE_DIR/started.pids; tests/slurm/stop.sh STATE_DIR stops exactly those.
set -euo pipefail
state=$(realpath -m "${1:?usage: start.sh STATE_DIR}")
mkdir -p "$state"/{spool,ctld,log}
: > "$state/started.pids"

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "start.sh: slurmctld/munged missing and not root: install slurm-wlm and munge" >&2; exit 1; }
    echo "start.sh: installing slurm-wlm and munge with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq slurm-wlm munge >/dev/null
fi
PATH=/usr/sbin:/sbin:$PATH

# munge: reuse a running munged; else start one (and only then stop it later)
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge && dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        chmod 400 /etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    if id munge >/dev/null 2>&1; then runas=(runuser -u munge --); else runas=(); fi
    rm -f /run/munge/munged.pid
    "${runas[@]}" munged 2>>"$state/log/munged.log" || munged --force 2>>"$state/log/munged.log"
    for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
    echo "munged $(cat /run/munge/munged.pid)" >> "$state/started.pids"
fi

host=$(hostname -s)
ctld_port=${LRA_SLURMCTLD_PORT:-16817}
slurmd_port=${LRA_SLURMD_PORT:-16818}
# CPUs, memory and the GPU are declared, not probed (SlurmdParameters=config_overrides), so the
# requests of profiles/slurm (GPUs, 32 GB) are satisfiable on a small machine; memory is not
# a consumable resource (CR_Core), so jobs are not killed for it.
cat > "$state/slurm.conf" <<CONF
ClusterName=lra-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=16 RealMemory=262144 Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
echo "NodeName=$host Name=gpu Count=1 File=/dev/null" > "$state/gres.conf"
# srun inside a job finds the config only at the default path: snakemake's SLURM plugins drop
# every SLURM_* variable (SLURM_CONF too) in the job. Link it there unless a config exists.
for f in slurm.conf gres.conf; do
    if [ -L "/etc/slurm/$f" ] && [[ "$(readlink "/etc/slurm/$f")" == */started-by-lra-test/* || ! -e "/etc/slurm/$f" ]]; then
        rm -f "/etc/slurm/$f"  # a link left by an earlier test run
    fi
    if [ -e "/etc/slurm/$f" ]; then
        echo "start.sh: /etc/slurm/$f exists (a real cluster?); not replacing it. Stop here." >&2
        exit 1
    fi
done
mkdir -p /etc/slurm "$state/started-by-lra-test"
for f in slurm.conf gres.conf; do
    mv "$state/$f" "$state/started-by-lra-test/$f"
    ln -s "$state/started-by-lra-test/$f" "$state/$f"
    ln -s "$state/started-by-lra-test/$f" "/etc/slurm/$f"
    echo "link /etc/slurm/$f" >> "$state/started.pids"
done
export SLURM_CONF=$state/slurm.conf

slurmctld -f "$SLURM_CONF" -i
for _ in $(seq 50); do [ -s "$state/slurmctld.pid" ] && break; sleep 0.1; done
echo "slurmctld $(cat "$state/slurmctld.pid")" >> "$state/started.pids"
slurmd -f "$SLURM_CONF"
for _ in $(seq 50); do [ -s "$state/slurmd.pid" ] && break; sleep 0.1; done
echo "slurmd $(cat "$state/slurmd.pid")" >> "$state/started.pids"

for _ in $(seq 100); do
    if sinfo -h -o %t 2>/dev/null | grep -qx idle; then
        echo "start.sh: SLURM up (SLURM_CONF=$SLURM_CONF): $(sinfo -h -o '%P %D %t %G')" >&2
        exit 0
    fi
    sleep 0.2
done
echo "start.sh: node did not become idle; see $state/log/" >&2
sinfo >&2 || true
tail -n 20 "$state"/log/*.log >&2 || true
exit 1
