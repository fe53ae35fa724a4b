#!/usr/bin/env bash
# Measures `get -A` over two clusters of one mesh read at once against the two
# read one after the other: two loopback servers of SIZE each (default
# 100,50,4: 20,000 realistic pods each), one kubeconfig of two contexts.
# Prints wall times (median of RUNS, default 3) and their ratio
# (docs/performance.md holds the last run). Usage: bench/clusters.sh [SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-100,50,4}
runs=${RUNS:-3}

cargo build --release --locked -p mtls -p kube-loopback >&2
mtls=$PWD/target/release/mtls
loopback=$PWD/target/release/kube-loopback
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

for name in east west; do
  "$loopback" --generate "$size" --pods realistic --name "$name" --kubeconfig "$work/$name" >"$work/$name.url" 2>/dev/null &
done
for name in east west; do
  for _ in $(seq 1200); do [ -s "$work/$name.url" ] && break; sleep 0.1; done
done
export KUBECONFIG=$work/east:$work/west

median() {
  local times=() start end
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    times+=("$(( (end - start) / 1000000 ))")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}

both=$(median "$mtls" get -A --context east --context west -o json)
apart=$(median bash -c '"$0" get -A --context east -o json && "$0" get -A --context west -o json' "$mtls")
echo "| command | wall s |"
echo "|---|---:|"
echo "| get -A --context east --context west | $(awk -v ms="$both" 'BEGIN { printf "%.3f", ms / 1000 }') |"
echo "| get -A --context east, then --context west | $(awk -v ms="$apart" 'BEGIN { printf "%.3f", ms / 1000 }') |"
echo
echo "ratio: $(awk -v a="$both" -v b="$apart" 'BEGIN { printf "%.2f", a / b }') (two clusters of $size, realistic pods)"
