#!/usr/bin/env bash
# The long-budget table of samples/FasterRcnnDistillation/RESULTS.md: with the shipped teacher, every row × seeds 1-3,
# at low priority, each run checkpointed and resumed (--resume), so the script can be stopped at any time (or die with
# the session) and started again: finished runs are skipped, interrupted ones continue where their checkpoint is.
# Usage: bash eng/sample-results/run.sh [training images per student run] [output folder] [lanes]
#   (default 48000 images = 6,000 steps of 8; validation every 500 steps, so the learning curves show where they flatten)
#   lanes 2 runs two runs at a time with one torch thread each (OMP_NUM_THREADS=1): on the 2-core development machine
#   that trains ≈ 1.3× more steps per hour than one run with two threads (measured: two 150-step student runs in
#   parallel took 39.6 s, one alone with 2 threads 25.3 s); each lane takes every other run, balanced by step cost.
# Log: <output>/run.log; per run: <output>/<run>.log, validation-<run>.csv, results.csv (one line per finished run).
set -uo pipefail
cd "$(dirname "$0")/../.."
images=${1:-48000}
out=${2:-artifacts/sample-results}
lanes=${3:-1}
mkdir -p "$out"
# The sample is built and copied to <output>/bin, so that rebuilding the repository meanwhile does not change (or break)
# the executable of runs still to come.
if [ ! -f "$out/bin/FasterRcnnDistillation.dll" ]; then
  dotnet build -c Release samples/FasterRcnnDistillation -v:q -nologo >/dev/null || exit 1
  cp -r samples/FasterRcnnDistillation/bin/Release/net10.0 "$out/bin"
  echo "$(date -u +%FT%TZ) built from commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src samples || echo ' + uncommitted changes')" >> "$out/run.log"
fi
exe=$out/bin/FasterRcnnDistillation.dll
echo "$(date -u +%FT%TZ) start: $images images/run, $lanes lane(s); machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) CPUs; $(uptime | sed 's/.*load/load/')" >> "$out/run.log"
run() { # run NAME ARGS...
  local name=$1; shift
  if [ -f "$out/$name.done" ]; then return 0; fi
  # --roi-samples 512: the table was made before the sample's default became 128 RoIs per image.
  local command=(dotnet "$exe" "$@" --train-images "$images" --validate-every 500 --roi-samples 512 --output "$out" --resume)
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
# The 12 runs in the order they are started; with 2 lanes, lane 1 takes seed 1 and the baseline and neck + KD of seed 3,
# lane 2 seed 2 and the other two of seed 3 (≈ equal step cost: a baseline step is about half a neck + KD step).
runs=(
  "student-seed1 student --seed 1"
  "neck-seed1 distill --seed 1 --proposal-kd off"
  "object-only-seed1 distill --seed 1 --proposal-kd off --background-weight 0"
  "neck-kd-seed1 distill --seed 1"
  "student-seed2 student --seed 2"
  "neck-seed2 distill --seed 2 --proposal-kd off"
  "object-only-seed2 distill --seed 2 --proposal-kd off --background-weight 0"
  "neck-kd-seed2 distill --seed 2"
  "student-seed3 student --seed 3"
  "neck-kd-seed3 distill --seed 3"
  "neck-seed3 distill --seed 3 --proposal-kd off"
  "object-only-seed3 distill --seed 3 --proposal-kd off --background-weight 0"
)
lane() { # lane INDEXES...: the runs of one lane, in turn
  for i in "$@"; do run ${runs[$i]}; done
}
if [ "$lanes" = 2 ]; then
  export OMP_NUM_THREADS=1
  lane 0 1 2 3 8 9 &
  lane 4 5 6 7 10 11 &
  wait
else
  lane 0 1 2 3 4 5 6 7 8 9 10 11
fi
echo "$(date -u +%FT%TZ) all runs done" >> "$out/run.log"
