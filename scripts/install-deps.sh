#!/usr/bin/env bash
# Installs semid's build and test dependencies on Debian 12 (run as root, or with sudo present).
# Only Debian packages and npm packages pinned in tests/js/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
# clang builds the fuzz harnesses (make fuzz, make fuzz-smoke): libFuzzer and the sanitizer runtimes
# are in libclang-rt-14-dev (only a Recommends of clang on Debian 12), OpenMP for clang in libomp-dev.
# OpenMPI (mpicc, mpirun) builds build/semid-mpi and runs the 2-rank tests (tests/test_mpi.c).
# libcurl is semid augment's HTTP client; chromium runs the web page's browser test (playwright-core).
PKGS="build-essential pkg-config libopenblas-dev liblapacke-dev libcjson-dev libpcre2-dev libutf8proc-dev
      libmicrohttpd-dev zlib1g-dev libcriterion-dev python3-torch python3-numpy
      clang libclang-rt-14-dev libomp-dev libopenmpi-dev openmpi-bin libcurl4-openssl-dev chromium"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
# Node.js and npm run the Hugging Face tokenizer reference; a machine may already have them from
# another source (whose npm conflicts with Debian's), so install Debian's only when absent.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
if [ -f tests/js/package-lock.json ]; then
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
fi
