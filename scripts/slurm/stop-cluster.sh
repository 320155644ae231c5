#!/usr/bin/env bash
# Stops the cluster scripts/slurm/start-cluster.sh started in DIR (default /tmp/quantd-slurm).
set -uo pipefail
dir="${1:-/tmp/quantd-slurm}"
for pidfile in "$dir"/run/slurmd-*.pid "$dir/run/slurmctld.pid" "$dir/munge/munged.pid"; do
    [[ -f "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null
done
sleep 1
exit 0
