#!/usr/bin/env bash
# The GPU machine's one run (benchmarks/RESULTS.md, "GPU"): unpack the published bundle (out/carry/gpu.tar.xz, made by
# eng/gpu/pack.sh), point TorchSharp at the machine's PyTorch libtorch, then: the device check (CUDA vs CPU for every
# loss and mask builder, host synchronisations observed, the neck loss against the bandwidth floor), the [CudaFact]
# tests, a short sample run on CUDA (student, DeFeat, DeFeat with proposal KD; step profile), the BenchmarkDotNet CUDA
# cases, and the PyTorch reference script. Logs go to $OUT (at most 8 files come back).
# Environment: SKIP_CHECKS, SKIP_BENCHMARKS, SKIP_PYTORCH (non-empty: leave that part out), SAMPLE_RUNS (";"-separated sample
# command lines; --device cuda unless one names a device), SAMPLE_IMAGES, BDN_FILTER, BDN_TIMEOUT.
# If libLibTorchSharp does not load on that libtorch, it is compiled there from TorchSharp 0.107's native source
# (out/carry/native, from github.com/dotnet/TorchSharp at v0.107.0) and the check is repeated.
set -uo pipefail
REPO=$(pwd)
OUT=${OUT:-/tmp/gpu-out}
B=/tmp/gpu
mkdir -p "$OUT"
log() { echo "== $(date -u +%T) $*" | tee -a "$OUT/steps.log"; }

tar -C /tmp -xJf out/carry/gpu.tar.xz
TORCH_DIR=${TORCH_DIR:-$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')}
export LD_LIBRARY_PATH=$TORCH_DIR/lib:${LD_LIBRARY_PATH:-} DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
{
  nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cxx11abi", torch._C._GLIBCXX_USE_CXX11_ABI)'
  which g++ gcc cmake nvcc; nproc; uptime
} >> "$OUT/steps.log" 2>&1

if [ -z "${SKIP_CHECKS:-}" ]; then
  log "device check"
  timeout 240 "$B/DeFeat.Benchmarks" device-check > "$OUT/device-check.log" 2>&1
  rc=$?
  if grep -qE "undefined symbol|EntryPointNotFound|DllNotFound|type initializer for .TorchSharp.torch. threw|cannot open shared object" "$OUT/device-check.log"; then
    log "libLibTorchSharp did not load (rc $rc): compiling it against $TORCH_DIR"
    mv "$OUT/device-check.log" "$OUT/device-check-prebuilt.log"
    abi=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
    src=/tmp/native/LibTorchSharp && mkdir -p /tmp/native && cp -r out/carry/native/Native/. /tmp/native/
    flags="-O2 -fPIC -D_GLIBCXX_USE_CXX11_ABI=$abi -I$TORCH_DIR/include -I$TORCH_DIR/include/torch/csrc/api/include"
    (cd $src && gcc -c -O2 -fPIC crc32c.c -o crc32c.o &&
      ls *.cpp | xargs -P "$(nproc)" -I{} sh -c "g++ -std=c++17 $flags -w -c {} -o {}.o" &&
      g++ -shared -o "$B/libLibTorchSharp.so" *.o -L"$TORCH_DIR/lib" -ltorch -ltorch_cpu -ltorch_cuda -lc10 -lc10_cuda \
        -Wl,-rpath,"$TORCH_DIR/lib") > /tmp/native-build.log 2>&1
    log "native build rc $?"; tail -40 /tmp/native-build.log >> "$OUT/steps.log"
    timeout 240 "$B/DeFeat.Benchmarks" device-check > "$OUT/device-check.log" 2>&1
    rc=$?
  fi
  if grep -q "cuda available: False" "$OUT/device-check.log"; then
    log "CUDA not seen: retrying with libtorch_cuda.so preloaded"
    export LD_PRELOAD=$TORCH_DIR/lib/libtorch_cuda.so
    timeout 240 "$B/DeFeat.Benchmarks" device-check > "$OUT/device-check.log" 2>&1
    rc=$?
  fi
  log "device check rc $rc"
  
  log "cuda facts"
  timeout 120 "$B/DeFeat.Benchmarks" cuda-facts "$B/tests/DeFeat.Losses.Tests.dll" > "$OUT/cuda-facts.log" 2>&1
  log "cuda facts rc $?"
fi

log "sample runs"
teacher=$REPO/samples/FasterRcnnDistillation/Pretrained/teacher.fp16.bin
IFS=';' read -ra runs <<< "${SAMPLE_RUNS:-student;distill;distill --proposal-kd on}"
for run in "${runs[@]}"; do
  echo "### $run" >> "$OUT/sample.log"
  device=--device=cuda; [[ "$run" == *--device* ]] && device=
  FRCNN_STEP_PROFILE=1 timeout 150 "$B/FasterRcnnDistillation" $run $device --train-images "${SAMPLE_IMAGES:-800}" --val-images 16 \
    --teacher "$teacher" --output /tmp/frcnn --checkpoint-every 100000 >> "$OUT/sample.log" 2>&1
  log "sample $run rc $?"
done

[ -n "${SKIP_BENCHMARKS:-}" ] && exit 0

log "benchmarkdotnet cuda cases"
timeout "${BDN_TIMEOUT:-240}" "$B/DeFeat.Benchmarks" --inprocess --quick --iterationTime 100 --filter "${BDN_FILTER:-*cuda*}" \
  --exporters GitHub --artifacts /tmp/bdn > "$OUT/bdn.log" 2>&1
log "benchmarkdotnet rc $?"
cat /tmp/bdn/results/*.md > "$OUT/bdn-results.md" 2>/dev/null

[ -n "${SKIP_PYTORCH:-}" ] && exit 0

log "pytorch reference"
PYTHONUNBUFFERED=1 timeout 120 python3 benchmarks/reference/defeat_losses_torch.py --device cuda --repeats 10 > "$OUT/pytorch.txt" 2>&1
log "pytorch rc $?"
