#!/usr/bin/env bash
# Installs Chromium from Debian's packages for the `meshc graph --format html` browser test
# (test/cli/graph.test.ts opens the page headless, checks the DOM and a screenshot).
# Needs root, as on CI. Idempotent: does nothing when a Chromium is already on PATH.
set -euo pipefail
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null 2>&1; then "$c" --version; exit 0; fi
done
if [ "$(id -u)" != 0 ]; then
  echo "install-chromium: need root to apt-get install chromium" >&2; exit 2
fi
echo "install-chromium: apt-get install chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
chromium --version
