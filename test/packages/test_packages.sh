#!/usr/bin/env bash
# test_packages.sh — builds the Debian packages (build_debs.sh), lints them, installs them, tests
# what was installed, purges them and checks that the purge removed everything. As root,
# non-interactive. One "ok - ..." / "not ok - ..." line per check, "# ..." lines for context,
# details in build/pkgtest/test_packages.log; ends with "packages: N passed, N failed".
#
# It leaves the machine as it found it. A source install (`make install`, `make demo`) may have
# made the user vigil, /var/lib/vigil, /etc/vigil and put pgvigil into the system PostgreSQL:
# those are moved aside first (into /var/tmp/pgvigil-test-packages.*/, with a restore.sh) so that
# the package checks mean something, and put back at exit, whatever the exit path. Refuses to
# run when the packages are already installed.
set -uo pipefail
# A `make -jN test-packages` must not hand its jobserver to the makes run here.
unset MAKEFLAGS MFLAGS MAKELEVEL

root=$(cd "$(dirname "$0")/../.." && pwd)
work=$root/build/pkgtest
log=$work/test_packages.log
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PKGS=(postgresql-15-pgvigil vigild)
export DEBIAN_FRONTEND=noninteractive

started=$SECONDS
passed=0
failed=0
installed=0 # set once apt-get install starts: the exit trap purges
backup=""   # a source install moved aside: the exit trap puts it back

ok() { echo "ok - $*"; passed=$((passed + 1)); }
notok() { echo "not ok - $*"; failed=$((failed + 1)); }
note() { echo "# $*"; }
# check DESCRIPTION COMMAND...: one result line; the command's output goes to the log.
check() {
  local what=$1
  shift
  echo "=== $what: $*" >>"$log"
  if "$@" >>"$log" 2>&1; then ok "$what"; else notok "$what (see ${log#"$root"/})"; fi
}
# Before anything was changed: one reason, then the summary.
refuse() {
  notok "$*"
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Cleanup, on every exit path: stop servers, purge, put the source install back, summary.

stop_servers() {
  local d
  for d in "$work"/src/tmp_check/data "$work"/src/tmp_check_iso/data; do
    if [[ -f $d/postmaster.pid ]]; then
      runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$d" -m immediate -w stop >>"$log" 2>&1 || true
    fi
  done
}

purge_quietly() {
  echo "=== exit: apt-get purge -y ${PKGS[*]}" >>"$log"
  apt-get purge -y "${PKGS[@]}" >>"$log" 2>&1 \
    || dpkg --purge --force-remove-reinstreq "${PKGS[@]}" >>"$log" 2>&1 \
    || note "could not purge ${PKGS[*]}: see $log"
}

finish() {
  local status=$?
  trap - EXIT INT TERM
  stop_servers
  if [[ $installed -eq 1 ]]; then purge_quietly; fi
  if [[ -n $backup ]]; then
    if bash "$backup/restore.sh" >>"$log" 2>&1 && bash "$backup/compare.sh" >>"$log" 2>&1; then
      ok "put back the source install that was moved aside ($(cat "$backup/what"))"
      rm -rf "$backup"
    else
      notok "put back the source install: it is kept in $backup; run bash $backup/restore.sh (see ${log#"$root"/})"
    fi
  fi
  if [[ $status -ne 0 && $failed -eq 0 ]]; then notok "the run ended early (exit status $status)"; fi
  if [[ $failed -eq 0 ]]; then rm -rf "$work/src"; fi
  local t=$((SECONDS - started))
  echo "test_packages: took $((t / 60)) min $((t % 60)) s"
  echo "packages: $passed passed, $failed failed"
  if [[ $failed -gt 0 || $status -ne 0 ]]; then exit 1; fi
  exit 0
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Preconditions: nothing is changed before they all hold.

[[ $(id -u) -eq 0 ]] || refuse "preconditions: run as root (this installs and purges packages)"
for tool in apt-get dpkg-query lintian runuser systemd-analyze git make tar useradd; do
  command -v "$tool" >/dev/null || refuse "preconditions: $tool is missing (run \`make deps\`)"
done
[[ -x $PG_CONFIG ]] || refuse "preconditions: $PG_CONFIG is missing (run \`make deps\`)"
id postgres >/dev/null 2>&1 || refuse "preconditions: there is no postgres OS user (is postgresql-15 installed?)"
for p in "${PKGS[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  if [[ -n $status && $status != not-installed ]]; then
    refuse "preconditions: $p is already on this machine ($status), and this test purges it: apt-get purge $p first"
  fi
done
shopt -s nullglob
for old in /var/tmp/pgvigil-test-packages.*/restore.sh; do
  refuse "preconditions: an interrupted run left a source install moved aside in ${old%/restore.sh}: run bash $old, then remove that directory"
done

mkdir -p "$work"
rm -rf "${work:?}"/*
: >"$log"
ver=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$root/extension/pgvigil.control")
pkglibdir=$("$PG_CONFIG" --pkglibdir)
sharedir=$("$PG_CONFIG" --sharedir)
note "pgvigil $ver; log: ${log#"$root"/}"

# ---------------------------------------------------------------------------------------------
# A source install, moved aside. What `make install` creates: the user vigil (useradd --system),
# /var/lib/vigil, /etc/vigil, the unit in /etc/systemd/system (and its enablement links, which
# the package's purge would remove), pgvigil's files in the system PostgreSQL. /usr/local/bin/
# vigild does not collide with /usr/bin/vigild and stays where it is.

aside=()
for p in /var/lib/vigil /etc/vigil /etc/systemd/system/vigild.service /etc/systemd/system/*.wants/vigild.service \
  "$pkglibdir"/pgvigil.so "$pkglibdir"/bitcode/pgvigil "$pkglibdir"/bitcode/pgvigil.index.bc \
  "$sharedir"/extension/pgvigil.control "$sharedir"/extension/pgvigil--*.sql; do
  if [[ -e $p || -L $p ]]; then aside+=("$p"); fi
done
user_line=$(getent passwd vigil || true)
group_line=$(getent group vigil || true)

if [[ -n $user_line ]] && pgrep -u vigil >/dev/null 2>&1; then
  refuse "preconditions: processes of the user vigil are running (vigild serve?): stop them first"
fi

if [[ ${#aside[@]} -gt 0 || -n $user_line || -n $group_line ]]; then
  backup=$(mktemp -d /var/tmp/pgvigil-test-packages.XXXXXX)
  chmod 700 "$backup"
  what=()
  [[ -n $user_line ]] && what+=("user vigil")
  [[ -z $user_line && -n $group_line ]] && what+=("group vigil")
  what+=("${aside[@]}")
  (IFS=,; echo "${what[*]}" | sed 's/,/, /g') >"$backup/what"
  if [[ ${#aside[@]} -gt 0 ]]; then
    rel=("${aside[@]#/}")
    tar --numeric-owner --xattrs --acls -cpf "$backup/files.tar" -C / "${rel[@]}" 2>>"$log" || {
      rm -rf "$backup"
      backup=""
      refuse "preconditions: could not save ${aside[*]} (see ${log#"$root"/})"
    }
  fi
  # restore.sh: what the exit trap runs (and what to run by hand after a kill -9).
  {
    echo '#!/usr/bin/env bash'
    echo "# Puts back the source install test/packages/test_packages.sh moved aside on $(date -u '+%F %T') UTC."
    echo 'set -eu'
    if [[ -n $user_line || -n $group_line ]]; then
      # Whatever the package left is removed first.
      echo 'if getent passwd vigil >/dev/null; then userdel vigil; fi'
      echo 'if getent group vigil >/dev/null; then groupdel vigil; fi'
    fi
    if [[ -n $group_line ]]; then
      IFS=: read -r _ _ gid members <<<"$group_line"
      printf 'groupadd -g %q vigil\n' "$gid"
    fi
    if [[ -n $user_line ]]; then
      IFS=: read -r _ _ uid ugid gecos home shell <<<"$user_line"
      printf 'useradd -u %q -g %q -c %q -d %q -M -s %q vigil\n' "$uid" "$ugid" "$gecos" "$home" "$shell"
      shadow_line=$(getent shadow vigil || true)
      if [[ -n $shadow_line ]]; then
        IFS=: read -r _ pw lastchg min max warn inact expire _ <<<"$shadow_line"
        printf 'usermod -p %q vigil\n' "$pw"
        printf 'chage -d %q -m %q -M %q -W %q -I %q -E %q vigil\n' \
          "${lastchg:--1}" "${min:--1}" "${max:--1}" "${warn:--1}" "${inact:--1}" "${expire:--1}"
      fi
      primary=$(getent group "$ugid" | cut -d: -f1)
      supplementary=$(id -Gn vigil | tr ' ' '\n' | grep -vx "${primary:-vigil}" | paste -sd, || true)
      [[ -n $supplementary ]] && printf 'usermod -a -G %q vigil\n' "$supplementary"
    fi
    if [[ -n $group_line && -n ${members:-} ]]; then
      for m in ${members//,/ }; do printf 'gpasswd -a %q vigil >/dev/null\n' "$m"; done
    fi
    if [[ ${#aside[@]} -gt 0 ]]; then
      printf 'rm -rf'
      printf ' %q' "${aside[@]}"
      echo
      printf 'tar --numeric-owner --xattrs --acls -xpf %q -C /\n' "$backup/files.tar"
    fi
  } >"$backup/restore.sh"
  # compare.sh: the trap's proof that everything is back as it was.
  {
    echo '#!/usr/bin/env bash'
    echo 'set -eu'
    printf '[[ "$(getent passwd vigil || true)" == %q ]]\n' "$user_line"
    printf '[[ "$(getent group vigil || true)" == %q ]]\n' "$group_line"
    if [[ ${#aside[@]} -gt 0 ]]; then
      printf 'tar --numeric-owner --xattrs --acls -df %q -C /\n' "$backup/files.tar"
    fi
  } >"$backup/compare.sh"
  note "moved a source install aside ($(cat "$backup/what")) into $backup; it is put back at exit"
  # Moved aside: the files (saved above), then the user and group (recreated with their ids).
  if [[ ${#aside[@]} -gt 0 ]]; then rm -rf "${aside[@]}"; fi
  if [[ -n $user_line ]]; then userdel vigil >>"$log" 2>&1 || refuse "preconditions: userdel vigil failed (see ${log#"$root"/})"; fi
  if getent group vigil >/dev/null; then groupdel vigil >>"$log" 2>&1 || refuse "preconditions: groupdel vigil failed (see ${log#"$root"/})"; fi
fi

# ---------------------------------------------------------------------------------------------
# Build and lint.

echo "=== build_debs.sh" >>"$log"
"$root/test/packages/build_debs.sh" 2>&1 | tee -a "$log" | sed 's/^/# /'
if [[ ${PIPESTATUS[0]} -eq 0 ]]; then
  ok "build the packages (build_debs.sh)"
else
  notok "build the packages (build_debs.sh; its log: build/deb/build.log)"
  exit 1
fi
arch=$(dpkg --print-architecture)
debver=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
pgdeb=$root/build/deb/postgresql-15-pgvigil_${debver}_$arch.deb
vdeb=$root/build/deb/vigild_${debver}_$arch.deb
[[ -f $pgdeb && -f $vdeb ]] || { notok "build_debs.sh made ${pgdeb#"$root"/} and ${vdeb#"$root"/}"; exit 1; }

echo "=== lintian" >>"$log"
lint=$(lintian "$pgdeb" "$vdeb" 2>&1)
lint_rc=$?
lint=$(grep -v '^running with root privileges' <<<"$lint" || true)
echo "$lint" >>"$log"
while IFS= read -r line; do [[ -n $line ]] && note "lintian: $line"; done <<<"$lint"
errors=$(grep -c '^E:' <<<"$lint" || true)
warnings=$(grep -c '^W:' <<<"$lint" || true)
if [[ $lint_rc -le 1 && $errors -eq 0 ]]; then
  ok "lintian reports no error on either package ($warnings warnings)"
else
  notok "lintian: $errors errors (exit $lint_rc)"
fi

# ---------------------------------------------------------------------------------------------
# Install, and test what was installed.

installed=1
echo "=== apt-get install" >>"$log"
if apt-get install -y --no-install-recommends "$pgdeb" "$vdeb" </dev/null >>"$log" 2>&1; then
  ok "apt-get install both packages"
else
  notok "apt-get install both packages (see ${log#"$root"/})"
  exit 1
fi

files_present() {
  local f
  for f in "$@"; do [[ -f $f ]] || { echo "missing: $f"; return 1; }; done
  dpkg -S "$@"
}
check "postgresql-15-pgvigil installed pgvigil.so, pgvigil.control and pgvigil--$ver.sql" \
  files_present "$pkglibdir/pgvigil.so" "$sharedir/extension/pgvigil.control" "$sharedir/extension/pgvigil--$ver.sql"

# The suites the PGXS way, on temporary instances, in a copy postgres can write of the very
# sources the packages were built from (build_debs.sh's copy, without its build products).
src=$work/src
mkdir -p "$src"
tar -cf - -C "$root/build/deb/src/pgvigil-$ver" --exclude=./debian --exclude=./build-vigild . 2>>"$log" \
  | tar -xf - -C "$src" 2>>"$log"
chown -R postgres: "$src"
installcheck() {
  runuser -u postgres -- make -C "$src" --no-print-directory installcheck PG_CONFIG="$PG_CONFIG" "$@"
  local rc=$?
  local d
  for d in "$src/regression.diffs" "$src/output_iso/regression.diffs"; do
    if [[ -s $d ]]; then echo "--- $d"; head -n 200 "$d"; fi
  done
  return $rc
}
check "the installed extension passes the regression suite (make installcheck)" installcheck ISOLATION=
check "the installed extension passes the isolation suite (make installcheck)" installcheck REGRESS=

version_matches() {
  local out
  out=$(/usr/bin/vigild --version 2>&1) || { echo "$out"; return 1; }
  echo "$out"
  [[ $(awk '{print $NF}' <<<"$out") == "$ver" ]]
}
check "/usr/bin/vigild --version prints $ver, the control file's version" version_matches

unit=$(dpkg -L vigild | grep '/systemd/system/vigild\.service$' | head -n 1)
check "the installed unit ${unit:-vigild.service} runs /usr/bin/vigild" grep -E '^ExecStart=/usr/bin/vigild( |$)' "${unit:-/nonexistent}"
# systemd-analyze verify works without a running systemd: it loads the unit and what it refers to
# offline and prints nothing when all is well.
analyze() {
  local out rc
  out=$(systemd-analyze verify "$unit" 2>&1)
  rc=$?
  echo "$out"
  [[ $rc -eq 0 && -z $out ]]
}
check "systemd-analyze verify $unit" analyze

conffile() { dpkg-query -W -f='${Conffiles}\n' vigild | awk '{print $1}' | grep -x /etc/vigil/vigild.toml; }
check "/etc/vigil/vigild.toml is a conffile of vigild" conffile

user_ok() {
  local line uid home shell
  line=$(getent passwd vigil) || { echo "no user vigil"; return 1; }
  echo "$line"
  IFS=: read -r _ _ uid _ _ home shell <<<"$line"
  [[ $uid -lt 1000 && $home == /var/lib/vigil && $shell == /usr/sbin/nologin ]] && getent group vigil
}
check "the system user vigil exists (home /var/lib/vigil, shell /usr/sbin/nologin)" user_ok
dirs_ok() {
  local d s
  for d in /var/lib/vigil /var/lib/vigil/backups; do
    s=$(stat -c '%U:%G %a' "$d") || return 1
    echo "$d $s"
    [[ $s == "vigil:vigil 750" ]] || return 1
  done
}
check "/var/lib/vigil and /var/lib/vigil/backups belong to vigil:vigil, mode 750" dirs_ok

# ---------------------------------------------------------------------------------------------
# Purge, and check that it removed everything.

echo "=== apt-get purge" >>"$log"
if apt-get purge -y "${PKGS[@]}" >>"$log" 2>&1; then
  installed=0
  ok "apt-get purge both packages"
else
  notok "apt-get purge both packages (see ${log#"$root"/})"
fi
gone() {
  local p rc=0
  for p in "$@"; do
    if [[ -e $p || -L $p ]]; then echo "still there: $p"; rc=1; fi
  done
  return $rc
}
no_user() {
  local rc=0
  if getent passwd vigil; then rc=1; fi
  if getent group vigil; then rc=1; fi
  return $rc
}
check "purge removed the user and the group vigil" no_user
check "purge removed /var/lib/vigil and /etc/vigil" gone /var/lib/vigil /etc/vigil
check "purge removed pgvigil.so, pgvigil.control and pgvigil--$ver.sql" \
  gone "$pkglibdir/pgvigil.so" "$sharedir/extension/pgvigil.control" "$sharedir/extension/pgvigil--$ver.sql"
check "purge removed /usr/bin/vigild and the unit" gone /usr/bin/vigild "${unit:-/lib/systemd/system/vigild.service}"
