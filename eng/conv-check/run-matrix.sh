#!/usr/bin/env bash
# Runs the diagnostic matrix of docs/cpu-convolution-nan.md and prints it as markdown (each run's command line first).
# Usage: bash eng/conv-check/run-matrix.sh [trials]   (about 2 minutes on an idle 2-core machine at 200 trials)
set -euo pipefail
cd "$(dirname "$0")/../.."
trials=${1:-200}
dotnet build -c Release eng/conv-check -v:q -nologo >/dev/null
check() { # check [ENV=VALUE ...] -- [ConvCheck options]
  local env=()
  while [ "$1" != "--" ]; do env+=("$1"); shift; done
  shift
  echo
  echo "\`${env[*]:+${env[*]} }dotnet eng/conv-check/bin/Release/net10.0/ConvCheck.dll $*\`"
  echo
  env "${env[@]}" dotnet eng/conv-check/bin/Release/net10.0/ConvCheck.dll "$@"
}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) CPUs," \
  "AVX-512: $(grep -m1 -o -w avx512f /proc/cpuinfo || echo no); $(uname -sr); load: $(uptime | sed 's/.*load/load/')"
for isa in "" AVX512_CORE AVX2; do
  check ${isa:+DNNL_MAX_CPU_ISA=$isa} -- --trials "$trials"
  check ${isa:+DNNL_MAX_CPU_ISA=$isa} -- --trials "$trials" --literal --concurrent 1
  check ${isa:+DNNL_MAX_CPU_ISA=$isa} -- --trials "$trials" --literal --concurrent 2
done
check -- --trials "$trials" --isa AVX2
check -- --trials "$trials" --mkldnn off --dtypes float32
check -- --trials "$trials" --loss sum --dtypes float32
check -- --trials "$trials" --threads 3,4,8 --dtypes float32 --shapes "2,2,8,8>4/k3/s2/p1;2,16,8,8>16/k3/s2/p1;2,24,16,16>24/k3/s1/p1"
check -- --trials 30 --dtypes float32 \
  --shapes "8,3,64,64>24/k3/s2/p1;8,24,32,32>24/k3/s1/p1;8,24,32,32>48/k3/s2/p1;8,24,32,32>48/k1/s2/p0;2,12,16,16>12/k3/s1/p1;4,24,16,16>24/k3/s1/p1;2,2,16,16>4/k3/s2/p1;2,3,32,32>2/k3/s2/p1"
echo
echo "load after: $(uptime | sed 's/.*load/load/')"
