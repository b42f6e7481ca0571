#!/usr/bin/env bash
# bench_bloat.sh RESULTS.md — vigil's bloat estimate and measurement side by side with
# pgstattuple (the tool a DBA would otherwise run) on the table shapes users meet:
# fresh; 1/3 of rows updated without vacuum; half deleted then vacuumed; wide rows in TOAST;
# a fillfactor of 70; and one big table. For each it prints accuracy (percentage points
# against pgstattuple's 100 − tuple_percent, exact byte equality) and speed ratios.
#
#   VIGIL_BENCH_ROWS     rows of each of the smaller tables (default 300000, ~40 MB each)
#   VIGIL_BENCH_BIG_MB   size of the big table in MB (default 1024; 0 skips it)
#   VIGIL_BENCH_REPS     timed repetitions per measurement, the median is reported (default 3)
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"

out=${1:?usage: bench_bloat.sh RESULTS.md}
in_bench_cluster "$0" "$out"

rows=${VIGIL_BENCH_ROWS:-300000}
big_mb=${VIGIL_BENCH_BIG_MB:-1024}
reps=${VIGIL_BENCH_REPS:-3}
sql() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

echo "bench_bloat: building tables (rows=$rows, big=${big_mb} MB)"
sql <<SQL
ALTER SYSTEM SET autovacuum = off;
SELECT pg_reload_conf();
CREATE EXTENSION pgvigil;
CREATE EXTENSION pgstattuple;

-- The median wall time in ms of running q reps times (its result is discarded).
CREATE FUNCTION bench_ms(q text, reps int) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz; times float8[] := '{}';
BEGIN
  FOR i IN 1 .. reps LOOP
    t0 := clock_timestamp();
    EXECUTE q;
    times := times || extract(epoch FROM clock_timestamp() - t0) * 1000;
  END LOOP;
  RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END \$\$;

CREATE TABLE fresh (id bigint, account int, label text, amount numeric(12,2), created timestamptz);
INSERT INTO fresh SELECT g, g % 1000, 'item-' || md5(g::text), g / 7.0, now() - g * interval '1 s'
  FROM generate_series(1, $rows) g;

CREATE TABLE updated (LIKE fresh);
INSERT INTO updated SELECT * FROM fresh;
UPDATE updated SET amount = amount + 1 WHERE id % 3 = 0;

CREATE TABLE deleted (LIKE fresh);
INSERT INTO deleted SELECT * FROM fresh;
DELETE FROM deleted WHERE id % 2 = 0;
VACUUM deleted;

-- ~3 kB of incompressible text per row: stored out of line in TOAST
CREATE TABLE toasted (id bigint, body text);
INSERT INTO toasted SELECT g, (SELECT string_agg(md5(random()::text || g || i), '') FROM generate_series(1, 95) i)
  FROM generate_series(1, greatest($rows / 20, 1000)) g;

CREATE TABLE filled (LIKE fresh) WITH (fillfactor = 70);
INSERT INTO filled SELECT * FROM fresh;
SQL

tables=(fresh updated deleted toasted filled)
if [[ $big_mb -gt 0 ]]; then
  # ~115 bytes per row of "fresh"
  big_rows=$((big_mb * 1024 * 1024 / 115))
  sql -c "CREATE TABLE big (LIKE fresh); INSERT INTO big SELECT g, g % 1000, 'item-' || md5(g::text), g / 7.0, now() - g * interval '1 s' FROM generate_series(1, $big_rows) g; UPDATE big SET amount = amount + 1 WHERE id % 10 = 0;"
  tables+=(big)
fi
sql -c "ANALYZE; CHECKPOINT;"

{
  echo "## bloat: vigil vs pgstattuple (median of $reps runs; ratios > 1 mean vigil is faster)"
  echo
  echo "| table | size MB | pgstattuple non-live % | estimate % | estimate_quality | estimate error pp | exact = pgstattuple (live/dead/free bytes) | sampled 1% % | sampled error pp (worst of $reps) | pgstattuple ms | exact ms | exact speed ratio | sampled ms | sampled speed ratio | estimate ms | estimate speed ratio |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} >"$out"

for t in "${tables[@]}"; do
  echo "bench_bloat: measuring $t"
  # pgstattuple's scan may prune pages; one untimed pass first makes every later pass see the
  # same pages (a measurement by vigil never changes a page).
  sql -c "SELECT * FROM pgstattuple('$t')" >/dev/null
  row=$(sql -F '|' <<SQL
WITH p AS (SELECT * FROM pgstattuple('$t')),
     m AS (SELECT * FROM vigil.measure_bloat('$t')),
     e AS (SELECT * FROM vigil.table_bloat WHERE schema_name = 'public' AND table_name = '$t'),
     pages AS (SELECT greatest(1, (pg_relation_size('$t') / 8192 / 100)::int) AS n),
     s AS (SELECT max(abs(x.bloat_ratio * 100 - (100 - (SELECT tuple_percent FROM p)))) AS worst,
                  (array_agg(x.bloat_ratio))[1] AS one
             FROM generate_series(1, $reps) r, pages,
                  LATERAL vigil.measure_bloat('$t', pages.n) x)
SELECT '$t',
       round(pg_relation_size('$t') / 1048576.0),
       round((100 - p.tuple_percent)::numeric, 2),
       coalesce(round((e.bloat_ratio * 100)::numeric, 2)::text, 'n/a'),
       e.estimate_quality,
       coalesce(round(abs(e.bloat_ratio * 100 - (100 - p.tuple_percent))::numeric, 2)::text, 'n/a'),
       CASE WHEN m.live_bytes = p.tuple_len AND m.dead_bytes = p.dead_tuple_len
                 AND m.free_bytes = p.free_space AND m.table_bytes = p.table_len
            THEN 'yes' ELSE format('NO (%s/%s/%s vs %s/%s/%s)', m.live_bytes, m.dead_bytes,
                                   m.free_bytes, p.tuple_len, p.dead_tuple_len, p.free_space) END,
       round((s.one * 100)::numeric, 2),
       round(s.worst::numeric, 2),
       (SELECT n FROM pages)
  FROM p, m, e, s
SQL
)
  pages=${row##*|}
  row=${row%|*}
  times=$(sql -F '|' <<SQL
SELECT round(bench_ms('SELECT * FROM pgstattuple(''$t'')', $reps)::numeric, 1),
       round(bench_ms('SELECT * FROM vigil.measure_bloat(''$t'')', $reps)::numeric, 1),
       round(bench_ms('SELECT * FROM vigil.measure_bloat(''$t'', $pages)', $reps)::numeric, 1),
       round(bench_ms('SELECT * FROM vigil.table_bloat WHERE table_name = ''$t''', $reps)::numeric, 1)
SQL
)
  IFS='|' read -r t_pst t_exact t_sample t_est <<<"$times"
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) b = 0.01; printf "%.1f", a / b }'; }
  echo "| ${row//|/ | } | $t_pst | $t_exact | $(ratio "$t_pst" "$t_exact") | $t_sample | $(ratio "$t_pst" "$t_sample") | $t_est | $(ratio "$t_pst" "$t_est") |" >>"$out"
done

# Btree leaf scans against pgstattuple on the indexes of the updated and the big table.
sql -c "CREATE INDEX updated_id ON updated (id); CREATE INDEX updated_account ON updated (account); ANALYZE updated;"
indexes=(updated_id updated_account)
if [[ $big_mb -gt 0 ]]; then
  sql -c "CREATE INDEX big_id ON big (id); ANALYZE big;"
  indexes+=(big_id)
fi
{
  echo
  echo "| index | size MB | pgstattuple non-live % | index_bloat estimate % | estimate_quality | exact = pgstattuple | pgstattuple ms | measure_index_bloat ms | speed ratio |"
  echo "|---|---|---|---|---|---|---|---|---|"
} >>"$out"
for i in "${indexes[@]}"; do
  echo "bench_bloat: measuring index $i"
  row=$(sql -F '|' <<SQL
WITH p AS (SELECT * FROM pgstattuple('$i')),
     m AS (SELECT * FROM vigil.measure_index_bloat('$i')),
     e AS (SELECT * FROM vigil.index_bloat WHERE index_name = '$i')
SELECT '$i', round(pg_relation_size('$i') / 1048576.0), round((100 - p.tuple_percent)::numeric, 2),
       coalesce(round((e.bloat_ratio * 100)::numeric, 2)::text, 'n/a'), e.estimate_quality,
       CASE WHEN m.live_bytes = p.tuple_len AND m.dead_bytes = p.dead_tuple_len
                 AND m.free_bytes = p.free_space AND m.index_bytes = p.table_len
            THEN 'yes' ELSE 'NO' END,
       round(bench_ms('SELECT * FROM pgstattuple(''$i'')', $reps)::numeric, 1),
       round(bench_ms('SELECT * FROM vigil.measure_index_bloat(''$i'')', $reps)::numeric, 1)
  FROM p, m, e
SQL
)
  t_pst=$(cut -d'|' -f7 <<<"$row"); t_m=$(cut -d'|' -f8 <<<"$row")
  echo "| ${row//|/ | } | $(awk -v a="$t_pst" -v b="$t_m" 'BEGIN { if (b <= 0) b = 0.01; printf "%.1f", a / b }') |" >>"$out"
done
{
  echo
  echo "Estimate error: |vigil.table_bloat.bloat_ratio − (100 − pgstattuple tuple_percent)| in percentage"
  echo "points; n/a where estimate_quality says the estimate cannot be trusted (it then prints no number)."
  echo "Sampled: vigil.measure_bloat(rel, 1% of pages). Speed ratio: pgstattuple time / vigil time."
} >>"$out"
echo "bench_bloat: done"
