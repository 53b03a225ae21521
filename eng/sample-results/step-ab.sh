#!/usr/bin/env bash
# A/B of the sample's step time under start-up settings, alternated in rounds (issue 24): each line of VARIANTS is
# "name|environment assignments|sample arguments"; every round runs each variant once, in order, as a short run with
# FRCNN_STEP_PROFILE=1, and the median step (first 2 steps left out) of each run is appended to OUTPUT/steps.csv.
# With BUSY=1 a busy loop (one process at normal priority) runs beside every run: the shared-machine case.
# Usage: bash eng/sample-results/step-ab.sh VARIANTS OUTPUT [rounds] [steps]
set -uo pipefail
cd "$(dirname "$0")/../.."
variants=$1; out=$2; rounds=${3:-3}; steps=${4:-20}
mkdir -p "$out"
if [ ! -f "$out/bin/FasterRcnnDistillation.dll" ]; then
  dotnet build -c Release samples/FasterRcnnDistillation -v:q -nologo >/dev/null || exit 1
  cp -r samples/FasterRcnnDistillation/bin/Release/net10.0 "$out/bin"
fi
echo "# $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src samples || echo ' + uncommitted changes'); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) CPUs; busy loop: ${BUSY:-0}" >> "$out/steps.csv"
mapfile -t lines < <(grep -v '^\s*#' "$variants" | grep -v '^\s*$')
for ((round = 1; round <= rounds; round++)); do
  for line in "${lines[@]}"; do
    IFS='|' read -r name environment arguments <<< "$line"
    busy=""
    if [ "${BUSY:-0}" = 1 ]; then (while :; do :; done) & busy=$!; fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    log="$out/$name-round$round.log"
    # shellcheck disable=SC2086
    env FRCNN_STEP_PROFILE=1 $environment dotnet "$out/bin/FasterRcnnDistillation.dll" $arguments \
      --train-images $((steps * 8)) --val-images 8 --output "$out/run" > "$log" 2>&1
    [ -n "$busy" ] && kill "$busy"
    step=$(grep -E '^\s+step\s' "$log" | awk '{print $2}')
    teacher=$(grep -E 'teacher forward' "$log" | awk '{print $4}')
    echo "$round,$name,$step,$teacher,$load" >> "$out/steps.csv"
  done
done
