#!/usr/bin/env bash
# Installs the programs the CLI tests run besides the proxies, from Debian's packages: Chromium
# (test/cli/graph.test.ts opens the HTML view headless and reads its boxes and edges from the DOM),
# Graphviz (`dot` must accept the DOT output), zsh and fish (test/cli/commands.test.ts runs the
# completion scripts in them), Prometheus (the metrics scenario of test/integration scrapes the
# proxies with it). Needs root, as on CI. Idempotent: installs only what is missing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
need=()
chromium=""
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null 2>&1; then chromium="$c"; break; fi
done
[ -n "$chromium" ] || need+=(chromium)
command -v dot >/dev/null 2>&1 || need+=(graphviz)
command -v zsh >/dev/null 2>&1 || need+=(zsh)
command -v fish >/dev/null 2>&1 || need+=(fish)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
apt_install install-test-tools "${need[@]}"
chromium="${chromium:-chromium}"
"$chromium" --version
dot -V
zsh --version
fish --version
prometheus --version 2>&1 | sed -n 1p
