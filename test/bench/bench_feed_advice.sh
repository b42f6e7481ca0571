#!/usr/bin/env bash
# bench_feed_advice.sh RESULT.md — the load test every team meets: the feed (the newest 20 posts
# with their authors) under `vigild bench --workload feed` on the demo schema without an index on
# posts.created_at (`vigild init-schema --without-feed-index`). vigil.index_advice() must name
# that index; once it is built the feed's p95 must fall at least tenfold in the same round.
# Each round starts over (init-schema --without-feed-index drops the index, statistics are
# reset), runs the feed, asks for the advice, builds the index it proposes and runs the feed
# again. Also timed: index_advice() itself with hypopg (target: under 2 s) and from statistics
# (hypopg dropped), and top_queries() with 5,000 distinct statements in pg_stat_statements, next
# to the plain pg_stat_statements query it replaces.
#
#   VIGIL_BENCH_ROUNDS      rounds (default 5; medians are reported)
#   VIGIL_BENCH_SECONDS     seconds of each feed run (default 5)
#   VIGIL_BENCH_CLIENTS     feed clients (default 8, vigild bench's default)
#   VIGIL_BENCH_USERS       users to seed (default 10000), each with
#   VIGIL_BENCH_POSTS       posts per user (default 20: 200,000 posts)
#   VIGIL_BENCH_STATEMENTS  distinct statements for top_queries() (default 5000)
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"

result=${1:?usage: bench_feed_advice.sh RESULT.md}
[[ -x $PG_BINDIR/postgres ]] || { echo "run make tmp-install first" >&2; exit 1; }
# pgvigil and pg_stat_statements preloaded.
in_bench_cluster --preload "$0" "$result"

rounds=${VIGIL_BENCH_ROUNDS:-5}
secs=${VIGIL_BENCH_SECONDS:-5}
clients=${VIGIL_BENCH_CLIENTS:-8}
users=${VIGIL_BENCH_USERS:-10000}
posts_per_user=${VIGIL_BENCH_POSTS:-20}
statements=${VIGIL_BENCH_STATEMENTS:-5000}
VIGILD=${VIGIL_SIDECAR_BUILD:-$VIGIL_ROOT/build/sidecar}/vigild
psql=("$VIGIL_TEST_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# pg_stat_statements keeps 5,000 statements by default and evicts the least used beyond that:
# room for the generated ones and the rest. The setting needs a restart (same port and data).
"${psql[@]}" -c "ALTER SYSTEM SET pg_stat_statements.max = $((statements * 2))"
as_pg "$VIGIL_TEST_PG_BINDIR/pg_ctl" -D "$VIGIL_TEST_CLUSTER_DIR/data" -l "$VIGIL_TEST_CLUSTER_DIR/server.log" \
  -w -t 60 restart >/dev/null
"${psql[@]}" -c 'CREATE DATABASE feed'
dsn="$VIGIL_TEST_DSN dbname=feed"
q() { "${psql[@]}" -d feed -At "$@"; }

echo "bench_feed_advice: seeding $users users with $posts_per_user posts each" >&2
t0=$(date +%s.%N)
"$VIGILD" --dsn "$dsn" init-schema --without-feed-index --users "$users" --posts-per-user "$posts_per_user" >&2
seed_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
posts=$(q -c 'SELECT count(*) FROM posts')
q -c 'CREATE EXTENSION pg_stat_statements' -c 'CREATE EXTENSION hypopg'

# median X...: 3 significant digits below 100, whole numbers above.
median() { python3 -c "import statistics, sys; v = statistics.median(float(x) for x in sys.argv[1:]); print(f'{v:.0f}' if v >= 100 else f'{v:.3g}')" "$@"; }
# feed_run: one `vigild bench --workload feed` run; prints "p50 p95 p99 ops_per_sec count errors".
feed_run() {
  "$VIGILD" --dsn "$dsn" bench --workload feed --clients "$clients" --duration "$secs" --json |
    python3 -c 'import json, sys
f = json.load(sys.stdin)["operations"]["feed"]
print(f["p50_ms"], f["p95_ms"], f["p99_ms"], f["ops_per_sec"], f["count"], sum(f["errors"].values()))'
}
# time_calls N SQL: runs SQL N times in one new session; prints the milliseconds of each call
# (psql's \timing), the first one (PL/pgSQL compiling, hypopg loading) first.
time_calls() {
  { echo '\timing on'; for ((i = 0; i < $1; i++)); do echo "$2"; done; } | q -o /dev/null |
    sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
advice_sql='SELECT count(*) FROM vigil.index_advice();'
feed_advice_sql="SELECT create_index FROM vigil.index_advice() WHERE create_index IS NOT NULL AND query LIKE 'SELECT p.id, p.title, p.created_at, u.username%'"

declare -a b50 b95 b99 bops a50 a95 a99 aops ratios adv_first adv_warm stat_first stat_warm builds
advised=() methods=() hmethods=() errors=0
for r in $(seq 1 "$rounds"); do
  # The scenario from the start: no feed index, no statistics.
  "$VIGILD" --dsn "$dsn" init-schema --without-feed-index >/dev/null
  q -c 'SELECT pg_stat_statements_reset()' >/dev/null
  read -r p50 p95 p99 ops _ err < <(feed_run)
  [[ -n ${err:-} ]] || { echo "bench_feed_advice: vigild bench failed" >&2; exit 1; }
  b50+=("$p50") b95+=("$p95") b99+=("$p99") bops+=("$ops")
  errors=$((errors + err))
  # The advice, timed with hypopg, then from statistics (hypopg dropped for it).
  mapfile -t t < <(time_calls 3 "$advice_sql")
  adv_first+=("${t[0]}") adv_warm+=("${t[1]}" "${t[2]}")
  scenario_statements=$(q -c 'SELECT count(*) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())')
  q -c 'DROP EXTENSION hypopg'
  method=$(q -c "SELECT method FROM vigil.index_advice() WHERE create_index IS NOT NULL" | sort -u | paste -sd,)
  methods+=("$method")
  mapfile -t t < <(time_calls 3 "$advice_sql")
  stat_first+=("${t[0]}") stat_warm+=("${t[1]}" "${t[2]}")
  q -c 'CREATE EXTENSION hypopg'
  create=$(q -c "$feed_advice_sql")
  advised+=("$create")
  hmethods+=("$(q -c "${feed_advice_sql/SELECT create_index/SELECT method}")")
  echo "bench_feed_advice: round $r: feed p95 $p95 ms without the index; advice: $create (from statistics: $method)" >&2
  [[ $create == "CREATE INDEX CONCURRENTLY ON public.posts (created_at"* ]] || {
    echo "bench_feed_advice: index_advice() did not propose the feed's index" >&2
    q -c 'SELECT query, create_index, method, reason FROM vigil.index_advice()' >&2
    exit 1
  }
  t0=$(date +%s.%N)
  q -c "$create"
  builds+=("$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", (b - a) * 1000 }')")
  err=
  read -r p50 p95_after p99 ops _ err < <(feed_run)
  [[ -n $err ]] || { echo "bench_feed_advice: vigild bench failed" >&2; exit 1; }
  a50+=("$p50") a95+=("$p95_after") a99+=("$p99") aops+=("$ops")
  errors=$((errors + err))
  ratios+=("$(awk -v a="$p95" -v b="$p95_after" 'BEGIN { printf "%.0f", a / b }')")
  echo "bench_feed_advice: round $r: feed p95 $p95_after ms with it (${ratios[-1]}x)" >&2
done

# top_queries() over many statements: distinct shapes (pg_stat_statements replaces constants
# with $n, so `SELECT 1 + 2` and `SELECT 1 + 3` are one statement): statement i chains 13 + and -
# operators by the bits of i. The feed's statistics of the last round stay.
echo "bench_feed_advice: running $statements distinct statements" >&2
python3 - "$statements" >"$work/statements.sql" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print("SELECT 1" + "".join(f" {'-' if i >> b & 1 else '+'} {b + 2}" for b in range(13)) + ";")
PY
q -f "$work/statements.sql" >/dev/null
in_pgss=$(q -c "SELECT count(*) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'feed')")
raw20="SELECT queryid, calls, total_exec_time, mean_exec_time, rows, query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time DESC LIMIT 20;"
rawall="${raw20/LIMIT 20/LIMIT $statements}"
declare -A first warm
for ((r = 0; r < rounds; r++)); do
  for key in top20 topall raw20 rawall advice; do
    case $key in
      top20) sql='SELECT * FROM vigil.top_queries();' ;;
      topall) sql="SELECT * FROM vigil.top_queries(\"limit\" => $statements);" ;;
      raw20) sql=$raw20 ;;
      rawall) sql=$rawall ;;
      advice) sql=$advice_sql ;;
    esac
    mapfile -t t < <(time_calls 4 "$sql")
    first[$key]+="${t[0]} " warm[$key]+="${t[1]} ${t[2]} ${t[3]} "
  done
done
advice_statements=$(q -c 'SELECT count(*) FROM vigil.index_advice()')
feed_kept=$(q -c "SELECT count(*) FROM vigil.top_queries() WHERE query LIKE 'SELECT p.id, p.title, p.created_at, u.username%'")

m() { median "$@"; }
ratio=$(median "${ratios[@]}")
verdict_ratio=$(awk -v r="$(m "${b95[@]}")" -v a="$(m "${a95[@]}")" -v lo="$(printf '%s\n' "${ratios[@]}" | sort -n | head -1)" \
  'BEGIN { print (lo >= 10) ? "met in every round" : (r >= 10 * a ? "met by the medians, not in every round" : "NOT met") }')
adv_max=$(printf '%s\n' "${adv_first[@]}" "${adv_warm[@]}" | sort -n | tail -1)
verdict_advice=$(awk -v x="$adv_max" 'BEGIN { print (x < 2000) ? "met" : "NOT met" }')
# rng X...: the smallest and largest, formatted as median formats.
rng() { echo "$(median "$(printf '%s\n' "$@" | sort -g | head -1)") – $(median "$(printf '%s\n' "$@" | sort -g | tail -1)")"; }
{
  echo "## The feed without its index: vigild bench, vigil.index_advice(), the index, vigild bench again"
  echo
  echo "\`vigild init-schema --without-feed-index --users $users --posts-per-user $posts_per_user\`: $posts posts, seeded in $seed_secs s."
  echo "\`vigild bench --workload feed --clients $clients --duration $secs\`, $rounds rounds (each: drop the index, reset"
  echo "pg_stat_statements, feed, advice, build the advised index, feed); medians of the rounds, $(nproc) cores shared."
  echo
  echo "| Feed (\`ORDER BY p.created_at DESC LIMIT 20\`, joined to users) | p50 ms | p95 ms | p99 ms | feeds/s |"
  echo "|---|---|---|---|---|"
  echo "| without an index on posts.created_at (Seq Scan, Hash Join, top-N Sort) | $(m "${b50[@]}") | $(m "${b95[@]}") | $(m "${b99[@]}") | $(m "${bops[@]}") |"
  echo "| after \`${advised[0]}\` | $(m "${a50[@]}") | $(m "${a95[@]}") | $(m "${a99[@]}") | $(m "${aops[@]}") |"
  echo "| ratio (before / after) | $(awk -v a="$(m "${b50[@]}")" -v b="$(m "${a50[@]}")" 'BEGIN { printf "%.0fx", a / b }') | $(awk -v a="$(m "${b95[@]}")" -v b="$(m "${a95[@]}")" 'BEGIN { printf "%.0fx", a / b }') | $(awk -v a="$(m "${b99[@]}")" -v b="$(m "${a99[@]}")" 'BEGIN { printf "%.0fx", a / b }') | $(awk -v a="$(m "${aops[@]}")" -v b="$(m "${bops[@]}")" 'BEGIN { printf "%.0fx", a / b }') |"
  echo
  echo "p95 ratio per round: ${ratios[*]} (median ${ratio%.*}x); target at least 10x: **$verdict_ratio**. Feed errors: $errors."
  echo "The advice was the same in every round: $(printf '%s\n' "${advised[@]}" | sort -u | wc -l | awk '{ print ($1 == 1) ? "yes" : "no" }'). Building it took $(m "${builds[@]}") ms (median)."
  echo
  echo "| Call | statements in pg_stat_statements | first call of a session, ms | later calls, ms | range, ms |"
  echo "|---|---|---|---|---|"
  echo "| \`vigil.index_advice()\` with hypopg (method \`$(printf '%s\n' "${hmethods[@]}" | sort -u | paste -sd,)\`), during the scenario | $scenario_statements | $(m "${adv_first[@]}") | $(m "${adv_warm[@]}") | $(rng "${adv_first[@]}" "${adv_warm[@]}") |"
  echo "| \`vigil.index_advice()\` from statistics (hypopg dropped, method \`$(printf '%s\n' "${methods[@]}" | sort -u | paste -sd,)\`), during the scenario | $scenario_statements | $(m "${stat_first[@]}") | $(m "${stat_warm[@]}") | $(rng "${stat_first[@]}" "${stat_warm[@]}") |"
  # shellcheck disable=SC2086 # space-separated numbers
  for key in advice top20 raw20 topall rawall; do
    case $key in
      advice) label="\`vigil.index_advice()\` with hypopg ($advice_statements rows: the 20 costliest statements)" ;;
      top20) label='`vigil.top_queries()` (20 rows)' ;;
      raw20) label='plain `pg_stat_statements` query, `ORDER BY total_exec_time DESC LIMIT 20`' ;;
      topall) label="\`vigil.top_queries(\"limit\" => $statements)\`" ;;
      rawall) label="plain \`pg_stat_statements\` query, \`LIMIT $statements\`" ;;
    esac
    echo "| $label | $in_pgss | $(m ${first[$key]}) | $(m ${warm[$key]}) | $(rng ${first[$key]} ${warm[$key]}) |"
  done
  echo
  echo "Target: index_advice() under 2 s with hypopg: **$verdict_advice** (slowest call $(median "$adv_max") ms). The feed stayed in top_queries() among the $in_pgss statements: $feed_kept."
  echo "Times are psql's \\timing of each call; later calls are those after the first in the same session."
  echo "Load average when done: $(cut -d' ' -f1-3 /proc/loadavg) (the host is shared)."
} >"$result"
cat "$result"
