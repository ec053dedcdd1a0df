#!/bin/bash
# Submits a sharded qkdsim sweep to Slurm: an array job of N shards (sweep-array.sbatch)
# and the merge job that runs when all of them have succeeded (merge.sbatch,
# --dependency=afterok, cancelled if a shard fails). Prints the two job ids.
#
#   scripts/slurm/submit.sh N PARTS OUT SCENARIO.toml [sweep flags]
#
# Extra sbatch options for both jobs (partition, account, …) go in $SBATCH_OPTS, e.g.
# SBATCH_OPTS="--partition=short --account=qkd". The qkdsim binary is $QKDSIM (default:
# qkdsim on PATH), passed to the jobs through the environment.
set -euo pipefail

if [ "$#" -lt 4 ]; then
  echo "usage: $0 N PARTS OUT SCENARIO.toml [sweep flags]" >&2
  exit 2
fi
n=$1 parts=$2 out=$3
shift 3
case $n in
  '' | *[!0-9]* | 0) echo "$0: N must be a whole number >= 1, got '$n'" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2086 # SBATCH_OPTS holds several options
array=$(sbatch --parsable ${SBATCH_OPTS:-} --array="1-$n" "$here/sweep-array.sbatch" "$parts" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${SBATCH_OPTS:-} --dependency="afterok:$array" --kill-on-invalid-dep=yes \
  "$here/merge.sbatch" "$parts" "$out")
merge=${merge%%;*}
echo "array job $array (shards 1-$n into $parts), merge job $merge (into $out)"
