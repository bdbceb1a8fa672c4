#!/usr/bin/env bash
# Installs what the `meshc graph` tests run, from Debian's packages: Chromium (test/cli/graph.test.ts
# opens the HTML view headless and reads its boxes and edges from the DOM) and Graphviz (`dot` must
# accept the DOT output). Needs root, as on CI. Idempotent: installs only what is missing.
set -euo pipefail
need=()
chromium=""
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null 2>&1; then chromium="$c"; break; fi
done
[ -n "$chromium" ] || need+=(chromium)
command -v dot >/dev/null 2>&1 || need+=(graphviz)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-graph-tools: need root to apt-get install ${need[*]}" >&2; exit 2
  fi
  echo "install-graph-tools: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  chromium="${chromium:-chromium}"
fi
"$chromium" --version
dot -V
