#!/usr/bin/env bash
# deps_test.sh — test/harness/deps.sh's install path, with stand-in apt-get and dpkg-query on
# PATH (nothing is installed) and a policy-rc.d of its own. TAP-style "ok"/"not ok" lines.
# The first-run bug it guards against: deps.sh installed everything, printed "deps: done",
# and exited 1 because its EXIT trap's last status leaked when policy-rc.d already existed.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
deps=$root/test/harness/deps.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failures=0
n=0
check() { # check DESCRIPTION COMMAND...: one TAP line
  local what=$1; shift
  n=$((n + 1))
  if "$@"; then echo "ok $n - $what"; else echo "not ok $n - $what"; failures=$((failures + 1)); fi
}

# Stand-ins: dpkg-query says nothing is installed; apt-get records its arguments and what the
# policy file held at the time, and fails when asked to.
mkdir -p "$work/bin"
cat >"$work/bin/dpkg-query" <<'SH'
#!/bin/sh
[ -n "$STANDIN_ALL_INSTALLED" ] && { printf installed; exit 0; }
exit 1
SH
cat >"$work/bin/apt-get" <<'SH'
#!/bin/sh
echo "apt-get $*" >>"$STANDIN_LOG"
if [ -e "$VIGIL_POLICY_RC_D" ]; then echo "policy during apt-get: $(cat "$VIGIL_POLICY_RC_D" | tr '\n' ' ')" >>"$STANDIN_LOG"; fi
[ "$1" = install ] && [ -n "$STANDIN_FAIL_INSTALL" ] && exit 100
exit 0
SH
chmod +x "$work/bin/"*

# run_deps CASE: runs deps.sh as the harness would, with the stand-ins first on PATH.
run_deps() {
  local case=$1
  STANDIN_LOG=$work/$case.log VIGIL_POLICY_RC_D=$work/$case.policy-rc.d \
    PATH="$work/bin:$PATH" bash "$deps" >"$work/$case.out" 2>&1
}

# 1. policy-rc.d already there (as in most container images): exit 0, file untouched.
printf '#!/bin/sh\n# the image'"'"'s own\nexit 101\n' >"$work/existing.policy-rc.d"
chmod 700 "$work/existing.policy-rc.d"
cp -p "$work/existing.policy-rc.d" "$work/existing.before"
export STANDIN_ALL_INSTALLED='' STANDIN_FAIL_INSTALL=''
run_deps existing; status=$?
check "existing policy-rc.d: deps.sh exits 0 after installing (was 1)" test "$status" -eq 0
check "existing policy-rc.d: apt-get install was called" grep -q '^apt-get install' "$work/existing.log"
check "existing policy-rc.d: its content is unchanged" cmp -s "$work/existing.before" "$work/existing.policy-rc.d"
check "existing policy-rc.d: its mode is unchanged" \
  test "$(stat -c %a "$work/existing.policy-rc.d")" = "$(stat -c %a "$work/existing.before")"
check "existing policy-rc.d: deps.sh says it is done" grep -qx 'deps: done' "$work/existing.out"

# 2. No policy-rc.d: one is in place while apt-get runs (no service starts), gone afterwards.
run_deps placed; status=$?
check "no policy-rc.d: deps.sh exits 0" test "$status" -eq 0
check "no policy-rc.d: apt-get ran with a policy that refuses service starts" \
  grep -q '^policy during apt-get: .*exit 101' "$work/placed.log"
check "no policy-rc.d: the one deps.sh placed is removed" test ! -e "$work/placed.policy-rc.d"

# 3. apt-get fails: deps.sh fails too, and still removes the policy it placed.
STANDIN_FAIL_INSTALL=1 run_deps failing; status=$?
check "failed install: deps.sh exits non-zero" test "$status" -ne 0
check "failed install: the placed policy-rc.d is removed" test ! -e "$work/failing.policy-rc.d"

# 4. Everything installed: nothing is run, exit 0.
STANDIN_ALL_INSTALLED=1 run_deps present; status=$?
check "all present: deps.sh exits 0" test "$status" -eq 0
check "all present: apt-get is not called" test ! -e "$work/present.log"

echo "1..$n"
[[ $failures -eq 0 ]]
