#!/usr/bin/env bash
# Release archives and the krew manifest for them.
#
#   scripts/package.sh --base-url URL [--homepage URL] [--binary PATH]
#                      [--target TRIPLE] [--out DIR]
#
# Builds the release binary (or takes --binary), packs it with LICENSE, README.md,
# the completion scripts and the man pages into DIR/mtls-vVERSION-TRIPLE.tar.gz,
# then writes DIR/plugins/mtls.yaml: a krew manifest with one platform entry for
# every archive of this version in DIR (run it once per target, on a machine of
# that target, into the same DIR). URL is where the archives will be published:
# each entry's uri is URL/ARCHIVE, with the archive's sha256.
#
# Install the archive with krew before publishing it:
#   kubectl krew install --manifest=DIR/plugins/mtls.yaml --archive=DIR/mtls-v...tar.gz
set -euo pipefail

base_url= homepage= binary= target= out=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --base-url) base_url=${2:?}; shift 2 ;;
    --homepage) homepage=${2:?}; shift 2 ;;
    --binary) binary=${2:?}; shift 2 ;;
    --target) target=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$base_url" ]; then
  echo "error: --base-url is required: where the archives will be published" >&2
  exit 2
fi
case "$base_url" in
  https://*) ;;
  *) echo "error: --base-url must be an https:// URL, as krew downloads it" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
target=${target:-$(rustc -vV | sed -n 's/^host: //p')}
if [ -z "$binary" ]; then
  cargo build --release --locked --manifest-path "$root/Cargo.toml" --target "$target"
  binary="$root/target/$target/release/mtls"
fi

# krew's platform of a Rust target triple.
platform() {
  local os arch
  case "$1" in
    *-linux-*) os=linux ;;
    *-apple-darwin) os=darwin ;;
    *) return 1 ;;
  esac
  case "$1" in
    x86_64-*) arch=amd64 ;;
    aarch64-*) arch=arm64 ;;
    *) return 1 ;;
  esac
  echo "$os $arch"
}
platform "$target" >/dev/null || {
  echo "error: no krew platform for target $target" >&2
  exit 2
}

mkdir -p "$out/plugins"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/completions" "$stage/man"
install -m 0755 "$binary" "$stage/mtls"
cp "$root/LICENSE" "$root/README.md" "$stage/"
cp "$root"/completions/* "$stage/completions/"
cp "$root"/docs/man/*.1 "$stage/man/"
archive="mtls-v$version-$target.tar.gz"
# Reproducible: sorted names, no owners, the commit's time.
mtime=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
  -C "$stage" -cf - . | gzip -n > "$out/$archive"
echo "$out/$archive"

manifest="$out/plugins/mtls.yaml"
{
  cat <<YAML
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: mtls
spec:
  version: v$version
${homepage:+  homepage: $homepage
}  shortDescription: Show and control Istio mutual TLS
  description: |
    Shows the effective mTLS mode of every Service port of an Istio mesh
    (STRICT, PERMISSIVE, DISABLE), what its pods really enforce, and the policy
    that decides it; checks for misconfigurations; and changes the mode of the
    mesh, a namespace, a Service or one port without breaking callers:
      kubectl mtls get -A
      kubectl mtls check -A
      kubectl mtls require prod
  platforms:
YAML
  for file in "$out"/mtls-v"$version"-*.tar.gz; do
    name=$(basename "$file")
    triple=${name#mtls-v"$version"-}
    triple=${triple%.tar.gz}
    read -r os arch < <(platform "$triple") || continue
    sum=$(sha256sum "$file" | cut -d' ' -f1)
    cat <<YAML
  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: ${base_url%/}/$name
    sha256: $sum
    bin: mtls
YAML
  done
} > "$manifest"
echo "$manifest"
