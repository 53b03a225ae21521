#!/usr/bin/env bash
# Consumer check: pack DeFeat.Losses, DeFeat.Hooks and DeFeat.LibTorchSharpCompat into a temporary local feed, build a
# console project OUTSIDE the solution that references the first two from that feed (plus TorchSharp-cpu; the compat
# package must come transitively, through DeFeat.Losses, with its opt-in fix switched on by the app), run a 5-step
# teacher/student loop with the hooks and both losses, and check that the printed losses are finite and bounded.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/defeat-consumer.XXXXXX)
version="0.1.0-consumer.$(date +%s)"
packages="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
cleanup() {
  rm -rf "$work" "$packages/defeat.losses/$version" "$packages/defeat.hooks/$version" "$packages/defeat.libtorchsharpcompat/$version"
}
trap cleanup EXIT

echo "consumer check: packing $version into $work/feed"
dotnet pack "$repo/DeFeat.sln" -c Release -o "$work/feed" -p:VersionSuffix="${version#0.1.0-}" -v:q -nologo >"$work/pack.log" 2>&1 ||
  { cat "$work/pack.log"; exit 1; }
for id in DeFeat.Losses DeFeat.Hooks; do
  for ext in nupkg snupkg; do
    [ -f "$work/feed/$id.$version.$ext" ] || { echo "consumer check: missing $id.$version.$ext"; exit 1; }
  done
done
# Build files only: no assembly, so no symbols package.
[ -f "$work/feed/DeFeat.LibTorchSharpCompat.$version.nupkg" ] || { echo "consumer check: missing DeFeat.LibTorchSharpCompat.$version.nupkg"; exit 1; }

mkdir -p "$work/app"
cp "$repo/eng/consumer-check/Consumer.csproj" "$repo/eng/consumer-check/Program.cs" "$work/app/"
cat >"$work/app/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local-feed" value="$work/feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
</configuration>
XML

echo "consumer check: building a console app that references the packages"
(cd "$work/app" && dotnet build -c Release -p:DeFeatVersion="$version" -v:q -nologo >"$work/build.log" 2>&1) ||
  { cat "$work/build.log"; exit 1; }

# The libLibTorchSharp fix reached the app transitively (DeFeat.Losses -> DeFeat.LibTorchSharpCompat, buildTransitive),
# and only from the compat package: DeFeat.Losses carries no build files of its own.
grep -q 'defeat.libtorchsharpcompat/[^"]*/buildTransitive/DeFeat.LibTorchSharpCompat.targets' "$work/app/obj/Consumer.csproj.nuget.g.targets" ||
  { echo "consumer check: the app does not import DeFeat.LibTorchSharpCompat's buildTransitive targets"; exit 1; }
for dir in build buildTransitive; do
  [ ! -e "$packages/defeat.losses/$version/$dir" ] || { echo "consumer check: DeFeat.Losses still carries $dir/"; exit 1; }
done

echo "consumer check: running 5 training steps"
(cd "$work/app" && dotnet run -c Release --no-build -p:DeFeatVersion="$version") | tee "$work/run.log"
grep -q '^consumer check: OK' "$work/run.log" || { echo "consumer check: FAILED"; exit 1; }
