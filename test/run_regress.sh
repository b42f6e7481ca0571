#!/usr/bin/env bash
# run_regress.sh regress|isolation [TEST...]
# Runs pg_regress over the Makefile's REGRESS list (sql/*.sql against expected/*.out) or
# pg_isolation_regress over its ISOLATION list (test/isolation/specs/*.spec against
# test/isolation/expected/*.out), each on a temporary instance of build/tmp_install with
# test/harness/regress.conf. Output: build/<suite>/ (SANITIZE=1: build/sanitize/<suite>/, against
# build/sanitize/tmp_install). `make installcheck` runs the same lists against the installed
# extension.
set -euo pipefail
source "$(dirname "$0")/harness/lib.sh"

suite=${1:?usage: run_regress.sh regress|isolation [TEST...]}
shift
case $suite in
  regress)
    runner=$PG_PGXS_DIR/src/test/regress/pg_regress
    inputdir=$VIGIL_ROOT
    list=REGRESS ;;
  isolation)
    runner=$PG_PGXS_DIR/src/test/isolation/pg_isolation_regress
    inputdir=$VIGIL_ROOT/test/isolation
    list=ISOLATION ;;
  *) echo "unknown suite $suite" >&2; exit 64 ;;
esac

tests=("$@")
if [[ ${#tests[@]} -eq 0 ]]; then
  read -r -a tests <<<"$(make -s -C "$VIGIL_ROOT" --no-print-directory "print-$list")"
fi
[[ ${#tests[@]} -gt 0 ]] || { echo "$suite: no tests found"; exit 0; }

out=$VIGIL_BUILD/$suite
rm -rf "$out"
make_pg_dir "$out"
# pg_regress writes results/ and output files relative to --outputdir; the expected files
# are read from --inputdir.
cd "$out"
status=0
as_pg "$runner" \
  --bindir="$PG_BINDIR" \
  --inputdir="$inputdir" \
  --outputdir="$out" \
  --temp-instance="$out/tmp_check" \
  --temp-config="$VIGIL_ROOT/test/harness/regress.conf" \
  --load-extension=pgvigil \
  --dbname=contrib_regression \
  "${tests[@]}" || status=$?
# The temp instance (and its log) is kept only when a test failed.
sanitizer_check_log "$out/tmp_check/log/postmaster.log"
exit $status
