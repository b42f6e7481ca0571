#!/usr/bin/env bash
# Makes build/tmp_install: a private copy of PostgreSQL 15 with the freshly built pgvigil
# installed into it (PostgreSQL's binaries find their lib and share directories relative
# to themselves). Tests run against it, so they never need or change the system install.
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
make -C "$VIGIL_ROOT" --no-print-directory -s install-extension DESTDIR="$dest" >/dev/null
