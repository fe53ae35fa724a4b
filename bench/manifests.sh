#!/usr/bin/env bash
# Measures `mtls get -A -f` on large manifests: what `kubectl get -A -o yaml`
# and `-o json` print for a synthetic mesh, and the same made COPIES times
# larger (namespaces renamed per copy) as one `kind: List` document, as a stream
# of lists, as JSON, and through stdin. Prints wall time, CPU and peak RSS per input
# (docs/performance.md holds the last run). Usage: bench/manifests.sh
# [NAMESPACES,SERVICES_PER_NAMESPACE,PODS_PER_SERVICE [COPIES]]; the default
# 100,100,4 and 4 give about 50 and 200 MB of YAML.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-100,100,4}
copies=${2:-4}

cargo build --release --locked -p mtls -p kube-loopback >&2
mtls=$PWD/target/release/mtls
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

target/release/kube-loopback --generate "$size" --kubeconfig "$work/kubeconfig" >"$work/url" 2>/dev/null &
for _ in $(seq 600); do [ -s "$work/url" ] && break; sleep 0.1; done
kinds=pods,services,peerauthentications,destinationrules,namespaces
echo "dumping the mesh with kubectl ($size) ..." >&2
KUBECONFIG=$work/kubeconfig kubectl get "$kinds" -A -o yaml >"$work/list.yaml"
KUBECONFIG=$work/kubeconfig kubectl get "$kinds" -A -o json >"$work/list.json"

# COPIES copies of the items, namespaces renamed, as one list and as a stream
# of lists, and as one JSON list.
python3 - "$work" "$copies" <<'PY'
import sys
work, copies = sys.argv[1], int(sys.argv[2])
text = open(f"{work}/list.yaml").read()
head = "apiVersion: v1\nitems:\n"
end = text.rindex("\nkind: List") + 1
body, tail = text[len(head):end], text[end:]
tags = [f"c{i}" for i in range(copies)]
with open(f"{work}/big-list.yaml", "w") as f:
    f.write(head + "".join(body.replace("team-", f"team{t}-") for t in tags) + tail)
with open(f"{work}/big-stream.yaml", "w") as f:
    f.write("".join("---\n" + head + body.replace("team-", f"team{t}-") + tail for t in tags))
text = open(f"{work}/list.json").read()
start = text.index('"items": [') + len('"items": [')
end = text.rindex("],")
body = text[start:end].rstrip()
with open(f"{work}/big-list.json", "w") as f:
    f.write(text[:start] + ",".join(body.replace("team-", f"team{t}-") for t in tags) + text[end:])
PY

echo "| input | MB | wall s | CPU s | MB/s | peak RSS MiB | rows |"
echo "|---|---:|---:|---:|---:|---:|---:|"
measure() {
  local label=$1 file=$2; shift 2
  local mb start end u s m
  mb=$(awk -v b="$(stat -c %s "$file")" 'BEGIN { printf "%.0f", b / 1e6 }')
  start=$(date +%s%N)
  /usr/bin/time -f "%M %U %S" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; return 1; }
  end=$(date +%s%N)
  read -r m u s <"$work/time"
  awk -v l="$label" -v mb="$mb" -v ns=$((end - start)) -v u="$u" -v s="$s" -v m="$m" \
      -v rows="$(grep -c '"target"' "$work/out")" \
    'BEGIN { w = ns / 1e9; printf "| %s | %d | %.2f | %.2f | %.0f | %d | %d |\n", l, mb, w, u + s, mb / w, m / 1024, rows }'
}
for f in list.yaml list.json big-list.yaml big-stream.yaml big-list.json; do
  measure "\`-f $f\`" "$work/$f" "$mtls" get -A -o json -f "$work/$f"
done
measure "\`-f - < big-list.yaml\`" "$work/big-list.yaml" sh -c "\"$mtls\" get -A -o json -f - <\"$work/big-list.yaml\""
