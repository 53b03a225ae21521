#!/usr/bin/env bash
# The step-time table of samples/FasterRcnnDistillation/RESULTS.md ("Step time"): 200 teacher steps (the same 160
# images x 10 epochs) with the step profile on, seeds 1-3, three executables in turn: before (commit 090e04e, the old
# algorithms with the profile switch), after with --roi-samples 512, after (the default, 128 RoIs per image). Each run
# starts once the CPUs were >= 98 % idle for 3 s; processes matching PAUSE (a pattern for pkill -f, e.g. the dll path of
# a background training) are stopped (SIGSTOP) meanwhile and continued at the end.
# Usage: bash eng/sample-results/step-time-ab.sh BEFORE_DLL AFTER_DLL OUTPUT [PAUSE]
#   e.g. git worktree add /tmp/before 090e04e && dotnet build -c Release /tmp/before/samples/FasterRcnnDistillation
#        then BEFORE_DLL=/tmp/before/samples/FasterRcnnDistillation/bin/Release/net10.0/FasterRcnnDistillation.dll and
#        AFTER_DLL a copy of this checkout's Release build (so that rebuilding meanwhile changes nothing).
# Per run: OUTPUT/<variant>-<seed>.log (the profile table is printed after training); OUTPUT/ab.log: commands, load,
# wall / CPU time and peak RSS (/usr/bin/time).
set -uo pipefail
before=$1 after=$2 out=$3 pausing=${4:-}
mkdir -p "$out"
if [ -n "$pausing" ]; then
  trap 'pkill -CONT -f "$pausing"' EXIT
  pkill -STOP -f "$pausing"
fi
idle() {
  while true; do
    read -r _ a b c d e f g _ < /proc/stat; t1=$((a + b + c + d + e + f + g)); i1=$d; sleep 3
    read -r _ a b c d e f g _ < /proc/stat; t2=$((a + b + c + d + e + f + g)); i2=$d
    [ $((100 * (i2 - i1) / (t2 - t1))) -ge 98 ] && return
  done
}
for seed in 1 2 3; do
  for variant in before after512 after128; do
    case $variant in
      before) command=(dotnet "$before" teacher --seed "$seed" --output "$out/$variant-$seed") ;;
      after512) command=(dotnet "$after" teacher --seed "$seed" --train-images 160 --teacher-epochs 10 --validate-every 0 --roi-samples 512 --output "$out/$variant-$seed") ;;
      after128) command=(dotnet "$after" teacher --seed "$seed" --train-images 160 --teacher-epochs 10 --validate-every 0 --output "$out/$variant-$seed") ;;
    esac
    idle
    echo "$(date -u +%FT%TZ) $variant seed $seed: ${command[*]} ($(uptime | sed 's/.*load/load/'))" >> "$out/ab.log"
    FRCNN_STEP_PROFILE=1 /usr/bin/time -f "wall %e s, user %U s, sys %S s, maxrss %M KB" "${command[@]}" > "$out/$variant-$seed.log" 2>&1
    tail -1 "$out/$variant-$seed.log" >> "$out/ab.log"
  done
done
echo "$(date -u +%FT%TZ) done" >> "$out/ab.log"
