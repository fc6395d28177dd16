#!/usr/bin/env bash
# Longer property-based fuzzing of the request parser/validator and the image decoders.
# CI runs the same properties with few cases; this runs many (default 20000 per property).
# Usage: scripts/fuzz.sh [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${1:-20000}"
time cargo test --release -p refvid-api --test fuzz
time cargo test --release -p refvid-media --test fuzz
