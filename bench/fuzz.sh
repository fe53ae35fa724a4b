#!/usr/bin/env bash
# Runs each fuzz target for a bounded time (default 60 s each), from the seeds
# in fuzz/corpus/, and keeps what it finds there. A crash stops the script with
# the reproducer under fuzz/artifacts/; turn it into a regression test.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); libFuzzer's instrumentation
# needs nightly features, enabled on the installed toolchain through
# RUSTC_BOOTSTRAP.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
export RUSTC_BOOTSTRAP=1
for target in target_parse manifests; do
  mkdir -p "fuzz/corpus/$target"
  cargo fuzz run "$target" "fuzz/corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536
done
