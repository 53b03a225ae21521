#!/usr/bin/env bash
# The long-budget table of samples/FasterRcnnDistillation/RESULTS.md: with the shipped teacher, every row × seeds 1-3,
# at low priority, each run checkpointed and resumed (--resume), so the script can be stopped at any time (or die with
# the session) and started again: finished runs are skipped, interrupted ones continue where their checkpoint is.
# Usage: bash eng/sample-results/run.sh [training images per student run] [output folder]
#   (default 48000 images = 6,000 steps of 8; validation every 500 steps, so the learning curves show where they flatten)
# Log: <output>/run.log; per run: <output>/<run>.log, validation-<run>.csv, results.csv (one line per finished run).
set -uo pipefail
cd "$(dirname "$0")/../.."
images=${1:-48000}
out=${2:-artifacts/sample-results}
mkdir -p "$out"
dotnet build -c Release samples/FasterRcnnDistillation -v:q -nologo >/dev/null || exit 1
exe=samples/FasterRcnnDistillation/bin/Release/net10.0/FasterRcnnDistillation.dll
echo "$(date -u +%FT%TZ) start: $images images/run; machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) CPUs; $(uptime | sed 's/.*load/load/')" >> "$out/run.log"
run() { # run NAME ARGS...
  local name=$1; shift
  if [ -f "$out/$name.done" ]; then return 0; fi
  local command=(dotnet "$exe" "$@" --train-images "$images" --validate-every 500 --output "$out" --resume)
  echo "$(date -u +%FT%TZ) $name: ${command[*]}" >> "$out/run.log"
  for attempt in 1 2 3 4 5; do
    if nice -n 10 "${command[@]}" >> "$out/$name.log" 2>&1; then
      touch "$out/$name.done"
      echo "$(date -u +%FT%TZ) $name: done ($(uptime | sed 's/.*load/load/'))" >> "$out/run.log"
      return 0
    fi
    echo "$(date -u +%FT%TZ) $name: exit $? (attempt $attempt), resuming" >> "$out/run.log"
  done
  return 1
}
for seed in 1 2 3; do
  run "student-seed$seed" student --seed "$seed"
  run "neck-seed$seed" distill --seed "$seed" --proposal-kd off
  run "object-only-seed$seed" distill --seed "$seed" --proposal-kd off --background-weight 0
  run "neck-kd-seed$seed" distill --seed "$seed"
done
echo "$(date -u +%FT%TZ) all runs done" >> "$out/run.log"
