#!/usr/bin/env bash
# The test command (README, `.ci/run`): makes sure what the tests talk to is there, then runs
# every test of the workspace.
# - the local PostgreSQL the store tests use is started if it is installed and down;
# - Chromium + ChromeDriver (Debian) for the console's browser test and moto (PyPI) for the S3
#   tests are installed where missing (scripts/test-deps.sh);
# - REFVID_REQUIRE_BROWSER=1 makes the browser test fail, not skip, when Chromium cannot start;
# - REFVID_REQUIRE_SPEECH=1 makes the dialogue tests fail, not skip, when the speech runtime
#   (scripts/install-speech.sh, run by test-deps.sh) is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
fi
bash scripts/test-deps.sh
export REFVID_REQUIRE_BROWSER="${REFVID_REQUIRE_BROWSER:-1}"
export REFVID_REQUIRE_SPEECH="${REFVID_REQUIRE_SPEECH:-1}"
exec cargo test --workspace --no-fail-fast "$@"
