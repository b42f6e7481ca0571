#!/usr/bin/env bash
# with_cluster.sh [--preload] [--system] -- COMMAND...
# Starts a throwaway PostgreSQL 15 cluster on a free loopback port, runs COMMAND with
# VIGIL_TEST_DSN and PGHOST/PGPORT/PGUSER/PGDATABASE pointing at it, and stops the
# cluster however COMMAND ends. --preload adds shared_preload_libraries = 'pgvigil';
# --system uses the system PostgreSQL install instead of build/tmp_install (SANITIZE=1:
# build/sanitize/tmp_install).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

preload=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --preload) preload=(--preload); shift ;;
    --system) PG_BINDIR=$PG_SYSTEM_BINDIR; shift ;;
    --) shift; break ;;
    *) echo "usage: with_cluster.sh [--preload] [--system] -- COMMAND..." >&2; exit 64 ;;
  esac
done
[[ $# -gt 0 ]] || { echo "with_cluster.sh: no command given" >&2; exit 64; }

mkdir -p "$VIGIL_BUILD"
dir=$(mktemp -d "$VIGIL_BUILD/cluster.XXXXXX")
trap 'stop_cluster "$dir"' EXIT
trap 'exit 130' INT TERM
start_cluster "$dir" "${preload[@]}"

export VIGIL_TEST_DSN=$CLUSTER_DSN PGHOST=127.0.0.1 PGPORT=$CLUSTER_PORT PGUSER=postgres PGDATABASE=postgres
export VIGIL_TEST_CLUSTER_DIR=$CLUSTER_DIR VIGIL_TEST_PG_BINDIR=$PG_BINDIR
status=0
"$@" || status=$?
exit $status
