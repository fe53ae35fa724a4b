#!/usr/bin/env bash
# Measures what hostile manifests cost `mtls get -A -f` before it refuses them:
# an alias bomb, nesting a million deep (YAML and JSON), 200 MB of zero bytes and
# of random bytes, a 300 MB line, a 300 MB object (YAML and JSON), a number where
# a string belongs; and the costliest objects it accepts, just under the 16 MiB
# an object may be, in the smallest entries a map and a list can have. Prints
# the exit code, wall time, peak RSS and the error's last line per input
# (docs/performance.md holds the last run); fails if an exit code is not the
# one expected. Usage: bench/hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p mtls >&2
mtls=$PWD/target/release/mtls
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "writing the inputs ..." >&2
python3 - "$work" <<'PY'
import os, sys
work = sys.argv[1]
MB = 1_000_000

def write(name, text):
    with open(f"{work}/{name}", "w") as f:
        f.write(text)

# "Billion laughs": nine levels of ten aliases, 10^9 scalars once expanded.
bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
for prev, cur in zip("abcdefghi", "bcdefghij"):
    bomb += f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 10) + "]\n"
write("alias-bomb.yaml", bomb)
write("deep.yaml", "[" * MB + "]" * MB + "\n")
write("deep-block.yaml", "".join("  " * i + "- \n" for i in range(2000)))
write("deep.json", '{"a": ' * MB + "1" + "}" * MB)

# 200 MB of zero bytes (sparse) and of random bytes.
with open(f"{work}/zeros.yaml", "wb") as f:
    f.truncate(200 * MB)
with open(f"{work}/random.yaml", "wb") as f:
    for _ in range(200):
        f.write(os.urandom(MB))

# One line of 300 MB, over the 256 MiB a line may be; objects of 300 MB in
# short lines, over the 16 MiB an object may be; and objects just under that,
# of the entries that cost the most memory for their size.
head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big, namespace: prod}\ndata:\n"
with open(f"{work}/long-line.yaml", "w") as f:
    f.write(head + "  blob: " + "x" * (300 * MB) + "\n")

def object_of(name, head, entry, size):
    with open(f"{work}/{name}", "w") as f:
        f.write(head)
        n = 0
        while f.tell() + len(entry(n)) < size:
            f.write(entry(n))
            n += 1

MIB = 1024 * 1024
object_of("huge-object.yaml", head, lambda n: f"  k{n}: v\n", 300 * MB)
with open(f"{work}/huge-object.json", "w") as f:
    f.write('{"apiVersion": "v1", "kind": "ConfigMap", "data": {')
    f.write(",".join(f'"k{n}": "v"' for n in range(20_000_000)))
    f.write("}}")
widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: prod}\nspec:\n"
object_of("largest-map.yaml", widget, lambda n: f"  k{n}: v\n", 16 * MIB - 4096)
object_of("largest-list.yaml", widget, lambda n: "  - v\n" if n else "  list:\n", 16 * MIB - 4096)

write("number.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: 5, namespace: prod}\n")
write("number.json", '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": 5, "namespace": "prod"}}')
PY

echo "| input | MB | exit | wall s | peak RSS MiB | error |"
echo "|---|---:|---:|---:|---:|---|"
status=0
for case in alias-bomb.yaml:1 deep.yaml:1 deep-block.yaml:1 deep.json:1 zeros.yaml:1 \
            random.yaml:1 long-line.yaml:1 huge-object.yaml:1 huge-object.json:1 \
            number.yaml:1 number.json:1 largest-map.yaml:0 largest-list.yaml:0; do
  f=${case%:*} expected=${case#*:}
  mb=$(awk -v b="$(stat -c %s "$work/$f")" 'BEGIN { printf "%.1f", b / 1e6 }')
  start=$(date +%s%N)
  code=0
  /usr/bin/time -f "%M" -o "$work/time" "$mtls" get -A -f "$work/$f" >/dev/null 2>"$work/err" || code=$?
  end=$(date +%s%N)
  # The error's last line without the work directory, cut to fit a table cell;
  # time(1) writes the exit status before the peak RSS.
  error=$(tail -n 1 "$work/err" | sed "s|$work/||g" | cut -c1-130)
  awk -v l="$f" -v mb="$mb" -v c="$code" -v ns=$((end - start)) -v m="$(tail -n 1 "$work/time")" -v e="$error" \
    'BEGIN { printf "| `%s` | %s | %d | %.2f | %d | %s |\n", l, mb, c, ns / 1e9, m / 1024, e }'
  [ "$code" = "$expected" ] || { echo "$f: expected exit $expected, got $code" >&2; status=1; }
done
exit $status
