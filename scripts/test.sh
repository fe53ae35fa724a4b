#!/usr/bin/env bash
# The project's test command: installs what the tests need beyond the Rust
# toolchain, then runs every test of the workspace.
#
# The end-to-end tests drive mtls in a real terminal with tmux, complete its
# targets in real bash, zsh and fish, read traffic from a real Prometheus
# (they build its data with promtool), and check the loopback API server
# against kubectl. They install completion where bash-completion loads it,
# and apply `--diff` output with patch. tmux, zsh, fish, prometheus (with
# promtool), bash-completion and patch come from Debian's packages and are
# installed here when missing; kubectl is part of the machine image.
# Every feature is built: `docs` holds the generator the drift tests compare
# the committed man pages and completions against.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v tmux >/dev/null || missing+=(tmux)
{ command -v prometheus && command -v promtool; } >/dev/null || missing+=(prometheus)
command -v zsh >/dev/null || missing+=(zsh)
command -v fish >/dev/null || missing+=(fish)
[ -f /usr/share/bash-completion/bash_completion ] || missing+=(bash-completion)
command -v patch >/dev/null || missing+=(patch)
if [ ${#missing[@]} -gt 0 ]; then
  echo "--- installing ${missing[*]} (Debian packages the tests need)" >&2
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "the tests need ${missing[*]}: install them (apt-get install ${missing[*]}) and run again" >&2
    exit 1
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v kubectl >/dev/null || {
  echo "the tests need kubectl on the PATH (it checks that the loopback API server is faithful)" >&2
  exit 1
}

exec cargo test --workspace --locked --all-features "$@"
