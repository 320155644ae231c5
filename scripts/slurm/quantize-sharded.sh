#!/usr/bin/env bash
# One model's artifact as a split set written by a Slurm job array, one task per file:
#   scripts/slurm/quantize-sharded.sh MODEL MIX OUTDIR [quantd shard plan options…]
# e.g. scripts/slurm/quantize-sharded.sh /shared/Llama-405B Q4_K_M /shared/out --split-max-size 45G
# Steps, each a quantd subcommand (docs/cluster.md, "One huge model"):
#   1. a plan job (headers only) writes OUTDIR/PREFIX... plan OUTDIR/shard-plan-MIX.json; the script waits for it;
#   2. an array of `quantd shard write PLAN --file $SLURM_ARRAY_TASK_ID -o OUTDIR`, one task per file;
#   3. `quantd shard finalize PLAN OUTDIR` with --dependency=afterok on the whole array (cancelled
#      when a task fails: nothing is published; rerun the script, every step gives the same bytes).
# MODEL, OUTDIR (and an --imatrix file) must be on a file system every node sees, at the same path.
# Environment: QUANTD (the binary, default: quantd on PATH), PARTITION, ACCOUNT, CPUS (per task,
# default 2), MEM, TIME, SBATCH_ARGS (more sbatch options), WAIT=1 (wait for finalize and return its
# status). Prints the job ids: plan, array, finalize.
set -euo pipefail
if [[ $# -lt 3 ]]; then
    echo "usage: $0 MODEL MIX OUTDIR [quantd shard plan options: --split-max-size S | --split-max-tensors N, --imatrix F, …]" >&2
    exit 64
fi
model="$1" mix="$2" outdir="$3"
shift 3
quantd="${QUANTD:-$(command -v quantd || true)}"
[[ -x "$quantd" ]] || { echo "quantd not found: set QUANTD=/path/to/quantd (on the shared file system)" >&2; exit 69; }
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
plan="$outdir/shard-plan-$mix.json"
logs="$outdir/.slurm-logs"
mkdir -p "$logs"

common=(--parsable --cpus-per-task="${CPUS:-2}")
[[ -n "${PARTITION:-}" ]] && common+=(--partition="$PARTITION")
[[ -n "${ACCOUNT:-}" ]] && common+=(--account="$ACCOUNT")
[[ -n "${MEM:-}" ]] && common+=(--mem="$MEM")
[[ -n "${TIME:-}" ]] && common+=(--time="$TIME")
# shellcheck disable=SC2206
[[ -n "${SBATCH_ARGS:-}" ]] && common+=($SBATCH_ARGS)

q() { printf '%q ' "$@"; }

# 1. The plan: headers only, a few seconds; waited for, since the array's size is its file count.
plan_job=$(sbatch "${common[@]}" --wait --job-name="quantd-plan-$mix" --output="$logs/plan-%j.out" \
    --wrap="$(q "$quantd" shard plan "$model" --type "$mix" "$@" -o "$plan")")
files=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["files"]))' "$plan")

# 2. One task per file.
array_job=$(sbatch "${common[@]}" --job-name="quantd-shard-$mix" --array="1-$files" --output="$logs/write-%A_%a.out" \
    --wrap="$(q "$quantd" shard write "$plan" -o "$outdir") --file \$SLURM_ARRAY_TASK_ID")

# 3. Check, hash, publish: only when every task succeeded.
finalize_args=("${common[@]}" --job-name="quantd-finalize-$mix" --dependency="afterok:$array_job" --kill-on-invalid-dep=yes
               --output="$logs/finalize-%j.out")
[[ "${WAIT:-0}" == 1 ]] && finalize_args+=(--wait)
set +e
finalize_job=$(sbatch "${finalize_args[@]}" --wrap="$(q "$quantd" shard finalize "$plan" "$outdir")")
status=$?
set -e
echo "plan $plan_job array $array_job finalize ${finalize_job:-none} files $files"
if [[ "${WAIT:-0}" == 1 && $status == 0 ]]; then
    # sbatch --wait returns 0 for a job cancelled before it ran (a failed task's dependency).
    state=$(squeue -h --states=all -j "$finalize_job" -o '%T' 2>/dev/null || true)
    if [[ "$state" != COMPLETED ]]; then
        echo "finalize job $finalize_job ended $state: a shard task failed (logs in $logs); nothing was published — rerun" >&2
        status=1
    fi
fi
exit $status
