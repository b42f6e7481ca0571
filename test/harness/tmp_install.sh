#!/usr/bin/env bash
# Makes build/tmp_install: a private copy of PostgreSQL 15 with the freshly built pgvigil
# installed into it (PostgreSQL's binaries find their lib and share directories relative
# to themselves). Tests run against it, so they never need or change the system install.
# SANITIZE=1: build/sanitize/tmp_install, with build/sanitize/ext's pgvigil (ASan+UBSan) and a
# bin/postgres that runs the real one under the sanitizer runtime (lib.sh, "Sanitizers").
set -euo pipefail
source "$(dirname "$0")/lib.sh"

dest=$VIGIL_TMP_INSTALL
stamp=$dest/.copied
if [[ ! -f $stamp || /usr/lib/postgresql/15/bin/postgres -nt $stamp ]]; then
  rm -rf "$dest"
  mkdir -p "$dest/usr/lib/postgresql" "$dest/usr/share/postgresql"
  cp -a /usr/lib/postgresql/15 "$dest/usr/lib/postgresql/"
  cp -a /usr/share/postgresql/15 "$dest/usr/share/postgresql/"
  touch "$stamp"
fi

if [[ ${SANITIZE:-} != 1 ]]; then
  make -C "$VIGIL_ROOT" --no-print-directory -s install-extension DESTDIR="$dest" >/dev/null
  exit 0
fi

make -C "$VIGIL_BUILD/ext" --no-print-directory -s install-extension DESTDIR="$dest" >/dev/null

# The runtimes pgvigil.so was linked against (gcc's, as PGXS links with gcc).
bindir=$dest$PG_SYSTEM_BINDIR
runtimes=()
for lib in libasan.so libubsan.so; do
  path=$(realpath -e "$(gcc -print-file-name="$lib")") || { echo "tmp_install.sh: gcc has no $lib" >&2; exit 1; }
  runtimes+=("$path")
done
# The real binary keeps its name (so that the sanitizers' report files and ps say "postgres"),
# one directory down; the wrapper passes its own path as argv[0], from which PostgreSQL finds
# its lib and share directories.
if [[ ! -f $bindir/sanitized/postgres ]]; then
  mkdir -p "$bindir/sanitized"
  mv "$bindir/postgres" "$bindir/sanitized/postgres"
fi
# Preloaded right after libasan (which must come first): asan_init_first.c says why.
shim=$bindir/sanitized/asan_init_first.so
if [[ ! -f $shim || $VIGIL_ROOT/test/harness/asan_init_first.c -nt $shim ]]; then
  gcc -O2 -Wall -Wextra -Werror -shared -fPIC -o "$shim" "$VIGIL_ROOT/test/harness/asan_init_first.c"
fi
runtimes=("${runtimes[0]}" "$shim" "${runtimes[@]:1}")
default_reports=$VIGIL_BUILD/sanitizer-reports/manual
mkdir -p "$default_reports"
chmod 1777 "$default_reports"
cat >"$bindir/postgres" <<SH
#!/bin/bash
# Written by test/harness/tmp_install.sh (SANITIZE=1): the real postgres, bin/sanitized/postgres,
# under gcc's ASan and UBSan runtimes, which pgvigil.so needs loaded first. ASan's reports go to
# files in \$VIGIL_SANITIZER_REPORTS (the suite's, set by run_all.sh) or, when that cannot be
# written, to stderr; UBSan's to stderr: the server log, which the harness greps. Options and
# why: test/harness/lib.sh.
reports=\${VIGIL_SANITIZER_REPORTS:-$default_reports}
asan='$SANITIZER_SERVER_ASAN_OPTIONS'
ubsan='$SANITIZER_UBSAN_OPTIONS'
if [[ -d \$reports && -w \$reports ]]; then
  asan+=":log_path=\$reports/asan"
fi
export LD_PRELOAD="${runtimes[*]}\${LD_PRELOAD:+ \$LD_PRELOAD}" ASAN_OPTIONS=\$asan UBSAN_OPTIONS=\$ubsan
exec -a "\$0" "\${BASH_SOURCE[0]%/*}/sanitized/postgres" "\$@"
SH
chmod 755 "$bindir/postgres"
