#!/usr/bin/env bash
# Installs every Debian package pgvigil's build, tests and demo need. Idempotent: returns at
# once when everything is present. `deps.sh --bench` adds what the benchmarks compare against.
set -euo pipefail

packages=(
  postgresql-15 postgresql-client-15 postgresql-server-dev-15 postgresql-contrib
  libpq-dev libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev libcpp-httplib-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev libsystemd-dev libssl-dev
  cmake g++ make pkg-config systemd util-linux procps iproute2
)
# The reference Prometheus text-format parser the metrics integration test checks against.
packages+=(python3-prometheus-client)
# Index advice measures hypothetical indexes with hypopg.
packages+=(postgresql-15-hypopg)
# Packaging: `make deb` and `make test-packages` (debhelper, pg_buildext, lintian).
packages+=(debhelper devscripts fakeroot dpkg-dev postgresql-server-dev-all lintian)
# Fuzzing (`make fuzz`): clang with libFuzzer.
packages+=(clang libfuzzer-14-dev)
# `make format` and `make format-check`.
packages+=(clang-format)
# `make test SANITIZE=1` mirrors the extension's sources into build/sanitize/ext.
packages+=(rsync)
# Fleet and high availability: a real Patroni cluster on a single-node etcd, PgBouncer in front
# (`make test-ha`, the PgBouncer tests).
packages+=(patroni etcd-server etcd-client python3-etcd pgbouncer)
# test/harness/ha/lib.sh asks Patroni's REST API who leads.
packages+=(curl)
# The console: templates (mustache), its history store (SQLite), and a real browser for its tests.
packages+=(libkainjow-mustache-dev libsqlite3-dev chromium chromium-driver python3-selenium)
# The Grafana dashboard's queries, run by a real Prometheus the test starts on loopback (policy-rc.d
# below keeps the package's own service from starting).
packages+=(prometheus)
# The sqlite3 CLI: docs/history.md's queries on the history file, which a unit test runs.
packages+=(sqlite3)
# Compile caching for repeated builds (used when present).
packages+=(ccache)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(prometheus-postgres-exporter curl valgrind wrk)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi

# Installing a server package must not start a server: pgvigil starts its own clusters and
# leaves nothing running. policy-rc.d (exit 101) tells invoke-rc.d not to start services.
# VIGIL_POLICY_RC_D exists for test/shell/deps_test.sh only.
policy=${VIGIL_POLICY_RC_D:-/usr/sbin/policy-rc.d}
placed_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"
  placed_policy=1
fi
# The trap must not change the exit status: a bare `[[ ... ]] && rm` returns 1 when the
# policy was already there, and bash exits with the trap's last status.
cleanup() {
  if [[ $placed_policy -eq 1 ]]; then "${SUDO[@]}" rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
