#!/usr/bin/env bash
# A/B of two DeFeat.Losses builds on the GPU machine, alternated in one run: the bundle of eng/gpu/pack.sh (B, the new
# build) and the same bundle with out/carry/old-losses/DeFeat.Losses.dll (A). Runs the device check's per-op and
# neck-loss timings on CUDA, and the sample's CPU step profile (distill, 1 thread), each twice per build. Logs to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/ab-out}
mkdir -p "$OUT"
tar -C /tmp -xJf out/carry/gpu.tar.xz
rm -rf /tmp/gpu-old && cp -r /tmp/gpu /tmp/gpu-old && cp out/carry/old-losses/DeFeat.Losses.dll /tmp/gpu-old/
TORCH_DIR=${TORCH_DIR:-$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')}
export LD_LIBRARY_PATH=$TORCH_DIR/lib:${LD_LIBRARY_PATH:-} DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
teacher=samples/FasterRcnnDistillation/Pretrained/teacher.fp16.bin
for round in 1 2; do
  for build in gpu-old gpu; do
    echo "### round $round, $build" | tee -a "$OUT/device-check.log" >> "$OUT/sample.log"
    timeout 120 "/tmp/$build/DeFeat.Benchmarks" device-check 2>&1 | grep -E "per op|neck loss|FAIL|device-check" >> "$OUT/device-check.log"
    FRCNN_STEP_PROFILE=1 timeout 120 "/tmp/$build/FasterRcnnDistillation" distill --device cpu --threads 1 --train-images 480 \
      --val-images 8 --teacher "$teacher" --output /tmp/frcnn-$build 2>&1 | grep -E "step profile|distillation losses|backward|  step " >> "$OUT/sample.log"
  done
done
