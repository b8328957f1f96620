#!/usr/bin/env bash
# Installs semid's build and test dependencies on Debian 12 (run as root, or with sudo present).
# Only Debian packages and npm packages pinned in tests/js/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
PKGS="build-essential pkg-config libopenblas-dev liblapacke-dev libcjson-dev libpcre2-dev libutf8proc-dev
      libmicrohttpd-dev zlib1g-dev libcriterion-dev python3-torch python3-numpy nodejs npm"
missing=""
for p in $PKGS; do
  # NodeSource's nodejs bundles npm and conflicts with Debian's npm package: a working npm is enough.
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
if [ -f tests/js/package-lock.json ]; then
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
fi
