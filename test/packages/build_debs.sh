#!/usr/bin/env bash
# build_debs.sh — builds the Debian packages postgresql-15-pgvigil and vigild out of the source
# tree: copies the tracked and the uncommitted (not ignored) files into
# build/deb/src/pgvigil-VERSION/, runs dpkg-buildpackage there and leaves the .deb files in
# build/deb/. On failure: one sentence on stderr, the build log in build/deb/build.log.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/deb
log=$out/build.log

fail() { echo "build_debs: $*" >&2; exit 1; }

for tool in dpkg-buildpackage dpkg-parsechangelog dh pg_buildext cmake git; do
  command -v "$tool" >/dev/null || fail "$tool is missing: run \`make deps\` first."
done

cd "$root"
control_version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" extension/pgvigil.control)
[[ -n $control_version ]] || fail "extension/pgvigil.control has no default_version."
deb_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream_version=${deb_version#*:}
upstream_version=${upstream_version%-*}
if [[ $upstream_version != "$control_version" ]]; then
  fail "extension/pgvigil.control says version $control_version but debian/changelog says $deb_version: add a changelog entry with \`dch -v $control_version-1\`."
fi

src=$out/src/pgvigil-$control_version
rm -rf "$out"
mkdir -p "$src"

# Tracked files plus new, not ignored ones; tracked files deleted in the work tree are skipped.
git ls-files -z -co --exclude-standard \
  | while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - 2>"$log" | tar -xf - -C "$src" 2>>"$log" \
  || fail "copying the sources into $src failed (see $log)."

# Parallel make; a DEB_BUILD_OPTIONS of the caller (nocheck, noddebs, ...) is kept.
opts=${DEB_BUILD_OPTIONS:-}
opts=$(echo "$opts" | sed -E 's/(^| )parallel=[0-9]+//g')
export DEB_BUILD_OPTIONS="parallel=${VIGIL_DEB_JOBS:-2}${opts:+ $opts}"

start=$SECONDS
echo "build_debs: building pgvigil $deb_version in $src (log: $log)"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >>"$log" 2>&1; then
  tail -n 30 "$log" >&2
  fail "dpkg-buildpackage failed for pgvigil $deb_version (full log: $log)."
fi

# dpkg-buildpackage writes to the parent directory, build/deb/src/. The debug symbols
# (*-dbgsym) go to build/deb/dbgsym/, so that build/deb/*.deb is the two installable packages.
shopt -s nullglob
mkdir -p "$out/dbgsym"
for f in "$out"/src/*-dbgsym_*.deb "$out"/src/*.ddeb; do mv "$f" "$out/dbgsym/"; done
for f in "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes; do mv "$f" "$out/"; done
debs=("$out"/*.deb)
[[ ${#debs[@]} -eq 2 ]] || fail "expected 2 .deb files in $out, found ${#debs[@]}."
echo "build_debs: built in $((SECONDS - start)) s:"
for d in "${debs[@]}"; do echo "  ${d#"$root"/}"; done
