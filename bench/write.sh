#!/usr/bin/env bash
# Measures `--write` and `--diff` on a GitOps tree: NAMESPACES directories, each
# with a file of SERVICES Services and Deployments and a file of their
# PeerAuthentications (a namespace policy and one workload policy per Service,
# commented), and the same policies as one file. Prints wall time and peak RSS
# of `get -A` (the read every change makes) and of a change written into the
# tree (docs/performance.md holds the last run).
# Usage: bench/write.sh [NAMESPACES [SERVICES]]; default 100 and 20.
set -euo pipefail
cd "$(dirname "$0")/.."
namespaces=${1:-100}
services=${2:-20}

cargo build --release --locked -p mtls >&2
mtls=$PWD/target/release/mtls
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$namespaces" "$services" <<'PY'
import os, sys
work, namespaces, services = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
one = []
for n in range(namespaces):
    ns = f"team-{n:03}"
    os.makedirs(f"{work}/tree/{ns}")
    apps, policies = [], []
    apps.append(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n    istio-injection: enabled\n")
    policies.append(f"# {ns}: mTLS for the namespace\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                    f"metadata:\n  name: default\n  namespace: {ns}\nspec:\n  mtls:\n    mode: PERMISSIVE\n")
    for s in range(services):
        svc = f"svc-{s:03}"
        apps.append(f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {svc}\n  namespace: {ns}\nspec:\n"
                    f"  selector:\n    app: {svc}\n  ports:\n  - name: http\n    port: 8000\n    targetPort: 8080\n")
        apps.append(f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {svc}\n  namespace: {ns}\nspec:\n"
                    f"  selector:\n    matchLabels:\n      app: {svc}\n  template:\n    metadata:\n      labels:\n"
                    f"        app: {svc}\n    spec:\n      containers:\n      - name: app\n        ports:\n"
                    f"        - containerPort: 8080\n        - containerPort: 9090\n")
        policies.append(f"# {svc}: the metrics port stays open to the scraper\napiVersion: security.istio.io/v1\n"
                        f"kind: PeerAuthentication\nmetadata:\n  name: {svc}\n  namespace: {ns}\nspec:\n  selector:\n"
                        f"    matchLabels:\n      app: {svc}\n  portLevelMtls:\n    9090:\n      mode: PERMISSIVE\n")
    open(f"{work}/tree/{ns}/apps.yaml", "w").write("---\n".join(apps))
    open(f"{work}/tree/{ns}/security.yaml", "w").write("---\n".join(policies))
    one.append((apps, policies))
os.makedirs(f"{work}/flat")
open(f"{work}/flat/apps.yaml", "w").write("---\n".join(a for apps, _ in one for a in apps))
open(f"{work}/flat/security.yaml", "w").write("---\n".join(p for _, ps in one for p in ps))
PY

measure() {
  local label=$1; shift
  local code=0 wall rss
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/err" || code=$?
  read -r wall rss < <(tail -n 1 "$work/time")
  printf '| %s | %s | %s | %d |\n' "$label" "$code" "$wall" "$((rss / 1024))"
}

last=$(printf 'team-%03d' $((namespaces - 1)))
echo "$namespaces namespaces, $((namespaces * services)) Services, $((namespaces * (services + 1))) PeerAuthentications"
echo "| command | exit | wall s | peak RSS MiB |"
echo "|---|---:|---:|---:|"
for layout in tree flat; do
  measure "\`get -A -f $layout\`" "$mtls" get -A -f "$work/$layout"
  measure "\`require $last/svc-000:8000 -f $layout --diff\`" \
    "$mtls" require "$last/svc-000:8000" -f "$work/$layout" --diff
  measure "\`require $last -f $layout --write\`" \
    "$mtls" require "$last" -f "$work/$layout" --write
  measure "\`unset $last/svc-001:8000 -f $layout --write\`" \
    "$mtls" unset "$last/svc-001:8000" -f "$work/$layout" --write
done
