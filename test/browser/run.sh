#!/usr/bin/env bash
# run.sh — the browser suite: test/browser/console_test.py (selenium + Debian's chromium)
# inside a throwaway cluster with pgvigil and pg_stat_statements preloaded. TAP output.
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"
exec "$VIGIL_ROOT/test/harness/with_cluster.sh" --preload -- /usr/bin/python3 "$VIGIL_ROOT/test/browser/console_test.py" "$@"
