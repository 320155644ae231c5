#!/usr/bin/env bash
# Starts a real two-node Slurm cluster on this machine, without systemd: munged, slurmctld and two
# slurmd instances (node1, node2) on localhost ports, all state under DIR (default /tmp/quantd-slurm).
#   scripts/slurm/start-cluster.sh [DIR]      -> prints "export SLURM_CONF=DIR/slurm.conf"
#   scripts/slurm/stop-cluster.sh [DIR]
# Needs root (munged and slurmd run as root here) and Debian's slurmctld, slurmd, slurm-client and
# munge packages (installed when missing). The nodes share this machine's cores: each says CPUs=2,
# so Slurm may run a task on each node at once.
set -euo pipefail
dir="${1:-/tmp/quantd-slurm}"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client munge >/dev/null
fi
mkdir -p "$dir"/{state,log,run,munge}
chmod 700 "$dir/munge"

# munge: its own key, socket and pid under DIR so a system munged (if any) is not disturbed.
if [[ ! -f "$dir/munge/munge.key" ]]; then
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge/munge.key"
fi
socket="$dir/munge/munge.socket"
if ! pgrep -f "munged.*$dir/munge" >/dev/null; then
    munged --force --key-file="$dir/munge/munge.key" --socket="$socket" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed"
fi

memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 4 ))
cat > "$dir/slurm.conf" <<CONF
ClusterName=quantd
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/state/slurmd-%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SlurmdTimeout=30
MinJobAge=600
MpiDefault=none
NodeName=node1 NodeHostname=localhost NodeAddr=127.0.0.1 Port=17001 CPUs=2 RealMemory=$memory_mb State=UNKNOWN
NodeName=node2 NodeHostname=localhost NodeAddr=127.0.0.1 Port=17002 CPUs=2 RealMemory=$memory_mb State=UNKNOWN
PartitionName=quantd Nodes=node1,node2 Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
pgrep -f "slurmctld.*$dir" >/dev/null || slurmctld -f "$SLURM_CONF"
for node in node1 node2; do
    pgrep -f "slurmd.*-N $node.*$dir" >/dev/null || slurmd -f "$SLURM_CONF" -N "$node"
done
for _ in $(seq 1 60); do
    if [[ "$(sinfo -h -o '%t' -p quantd 2>/dev/null | sort -u | tr '\n' ' ')" == "idle " ]]; then
        echo "export SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 0.5
done
echo "the Slurm cluster in $dir did not come up within 30 s; logs in $dir/log" >&2
sinfo -p quantd >&2 || true
exit 1
