#!/bin/bash
# Submit a sharded extraction: N array tasks, then the finishing job after all of them.
#   CONFIG=pipeline.toml N=64 examples/slurm/submit.sh [extra sbatch options]
set -euo pipefail
: "${CONFIG:?set CONFIG=path/to/pipeline.toml}"
N=${N:-16}
here=$(cd "$(dirname "$0")" && pwd)
jid=$(sbatch --parsable --array="0-$((N - 1))" --export=ALL,CONFIG="$CONFIG" "$@" \
  "$here/extract_array.sbatch")
jid=${jid%%;*}
fin=$(sbatch --parsable --dependency="afterany:$jid" --export=ALL,CONFIG="$CONFIG" "$@" \
  "$here/finish.sbatch")
echo "array job $jid ($N shards), finishing job ${fin%%;*}"
