#!/usr/bin/env bash
# Packs what eng/gpu/run-gpu-check.sh needs on a GPU machine that has PyTorch but no .NET SDK, into the git-ignored
# out/carry (about 40 MB): the benchmarks and the sample published self-contained with the TorchSharp package only
# (no CPU libtorch: the machine's PyTorch libtorch is used), the [CudaFact] test assembly and its managed dependencies,
# and TorchSharp 0.107's native source (for a rebuild of libLibTorchSharp there, should the prebuilt one not load).
# Usage: bash eng/gpu/pack.sh [path/to/TorchSharp/checkout at v0.107.0]
set -euo pipefail
cd "$(dirname "$0")/../.."
torchsharp=${1:-}
rm -rf out/gpu out/carry && mkdir -p out/carry
for project in benchmarks/DeFeat.Benchmarks samples/FasterRcnnDistillation; do
  dotnet publish "$project" -c Release -r linux-x64 --self-contained -p:DeFeatBundleLibTorch=false -o out/gpu
done
rm -rf out/gpu/Pretrained out/gpu/*.pdb out/gpu/*.xml # the teacher travels with the working tree
dotnet build tests/DeFeat.Losses.Tests -c Release
mkdir -p out/gpu/tests
tests=tests/DeFeat.Losses.Tests/bin/Release/net10.0
cp "$tests"/DeFeat.Losses.Tests.dll "$tests"/FluentAssertions.dll "$tests"/xunit.*.dll out/gpu/tests/
tar -C out -cJf out/carry/gpu.tar.xz gpu
if [ -n "$torchsharp" ]; then
  mkdir -p out/carry/native && cp -r "$torchsharp/src/Native" out/carry/native/
fi
# The publish replaced the projects' restore assets with the GPU ones: restore the normal (CPU) ones again.
dotnet build benchmarks/DeFeat.Benchmarks -c Release >/dev/null
dotnet build samples/FasterRcnnDistillation -c Release >/dev/null
du -sh out/carry/*
