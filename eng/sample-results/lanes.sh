#!/usr/bin/env bash
# Runs the sample once per line of a run list, in 2 lanes of one torch thread each, at low priority, each run
# checkpointed and resumed (--resume): the script can be stopped and started again; finished runs are skipped.
# Usage: bash eng/sample-results/lanes.sh RUNLIST OUTPUT [training images per run]
#   RUNLIST: lines "name command args..." (e.g. "student-seed1 student --seed 1"); lane 1 takes odd lines, lane 2 even.
#   A line's own --train-images overrides the script's.
# The sample is built once and copied to OUTPUT/bin. Log: OUTPUT/run.log; per run OUTPUT/NAME.log, OUTPUT/results.csv.
set -uo pipefail
cd "$(dirname "$0")/../.."
list=$1; out=$2; images=${3:-7200}
mkdir -p "$out"
if [ ! -f "$out/bin/FasterRcnnDistillation.dll" ]; then
  dotnet build -c Release samples/FasterRcnnDistillation -v:q -nologo >/dev/null || exit 1
  cp -r samples/FasterRcnnDistillation/bin/Release/net10.0 "$out/bin"
  echo "$(date -u +%FT%TZ) built from commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src samples || echo ' + uncommitted changes')" >> "$out/run.log"
fi
exe=$out/bin/FasterRcnnDistillation.dll
echo "$(date -u +%FT%TZ) start $list: $images images/run; machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) CPUs; $(uptime | sed 's/.*load/load/')" >> "$out/run.log"
run() { # run NAME ARGS...
  local name=$1; shift
  if [ -f "$out/$name.done" ]; then return 0; fi
  # The run's own options come after the script's image count, so a line may override it (--train-images 24000).
  local command=(dotnet "$exe" "$1" --train-images "$images" "${@:2}" --output "$out" --resume)
  echo "$(date -u +%FT%TZ) $name: ${command[*]}" >> "$out/run.log"
  for attempt in 1 2 3; do
    if nice -n 10 "${command[@]}" >> "$out/$name.log" 2>&1; then
      touch "$out/$name.done"
      echo "$(date -u +%FT%TZ) $name: done ($(uptime | sed 's/.*load/load/'))" >> "$out/run.log"
      return 0
    fi
    echo "$(date -u +%FT%TZ) $name: exit $? (attempt $attempt), resuming" >> "$out/run.log"
  done
  return 1
}
mapfile -t runs < <(grep -v '^\s*#' "$list" | grep -v '^\s*$')
export OMP_NUM_THREADS=1
lane() { for ((i = $1; i < ${#runs[@]}; i += 2)); do run ${runs[$i]}; done; }
lane 0 &
lane 1 &
wait
echo "$(date -u +%FT%TZ) all runs of $list done" >> "$out/run.log"
