
-- Bloat: fast estimates from statistics, exact and sampled measurements (docs/bloat.md).
-- Every bloat_ratio here is the share (0-1) of the relation that does not hold live rows.

-- Exact (sample_pages = 0) or sampled measurement of a heap table's live, dead and free bytes.
CREATE FUNCTION vigil.measure_bloat(rel regclass, sample_pages int DEFAULT 0,
    OUT table_bytes bigint, OUT scanned_pages bigint, OUT live_tuples bigint,
    OUT dead_tuples bigint, OUT live_bytes bigint, OUT dead_bytes bigint, OUT free_bytes bigint,
    OUT bloat_ratio float8, OUT method text)
    RETURNS record
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'vigil_measure_bloat';

-- The same for a btree index, through its leaf pages.
CREATE FUNCTION vigil.measure_index_bloat(idx regclass, sample_pages int DEFAULT 0,
    OUT index_bytes bigint, OUT scanned_pages bigint, OUT leaf_pages bigint,
    OUT live_items bigint, OUT dead_items bigint, OUT live_bytes bigint, OUT dead_bytes bigint,
    OUT free_bytes bigint, OUT bloat_ratio float8, OUT method text)
    RETURNS record
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'vigil_measure_index_bloat';

-- Average stored bytes of a row's data: the columns in order, each aligned, weighted by how
-- often it is not NULL. Short varlenas (avg under 127 bytes) are stored unaligned. pg_stats
-- truncates avg_width to an integer, so half a byte is added back to variable-width columns;
-- once a variable-width or nullable column has come, the offset is uncertain and a column
-- aligned to a bytes pays (a - 1) / 2 bytes of padding on average. A building block of the
-- views: NULL when an array is NULL.
CREATE FUNCTION vigil.estimated_data_width(widths float8[], aligns "char"[], lens int[],
                                           null_fracs float8[])
    RETURNS float8
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    off float8 := 0;
    a int;
    w float8;
    offset_known boolean := true;
BEGIN
    IF widths IS NULL OR aligns IS NULL OR lens IS NULL OR null_fracs IS NULL THEN
        RETURN NULL;
    END IF;
    FOR i IN 1 .. coalesce(array_length(widths, 1), 0) LOOP
        w := widths[i] + CASE WHEN lens[i] < 0 THEN 0.5 ELSE 0 END;
        a := CASE WHEN lens[i] = -1 AND w < 127 THEN 1
                  ELSE CASE aligns[i] WHEN 'd' THEN 8 WHEN 'i' THEN 4 WHEN 's' THEN 2 ELSE 1 END END;
        off := off + (1 - null_fracs[i]) *
               (CASE WHEN offset_known THEN ceil(off / a) * a - off ELSE (a - 1) / 2.0 END + w);
        IF lens[i] < 0 OR null_fracs[i] > 0 THEN
            offset_known := false;
        END IF;
    END LOOP;
    RETURN off;
END
$$;

-- A statistical estimate for every user table (no table is read): live row bytes expected from
-- pg_stats widths and the live row count, against the heap's real size.
CREATE VIEW vigil.table_bloat WITH (security_invoker = true) AS
WITH tables AS (
    SELECT c.oid, n.nspname, c.relname, c.reltuples, c.reltoastrelid, c.relkind,
           coalesce((SELECT substring(o FROM '^fillfactor=(\d+)$')::int
                       FROM unnest(c.reloptions) o WHERE o LIKE 'fillfactor=%'), 100) AS fillfactor,
           pg_relation_size(c.oid) AS real_bytes,
           CASE WHEN c.reltoastrelid <> 0 THEN pg_total_relation_size(c.reltoastrelid) ELSE 0 END
               AS toast_bytes,
           pg_stat_get_live_tuples(c.oid) AS n_live, pg_stat_get_dead_tuples(c.oid) AS n_dead,
           pg_stat_get_mod_since_analyze(c.oid) AS n_mod
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'm')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp'
), cols AS (
    SELECT t.oid, count(*) AS ncols, count(s.attname) AS ncols_with_stats,
           vigil.estimated_data_width(array_agg(coalesce(s.avg_width, 0)::float8 ORDER BY a.attnum),
                                      array_agg(ty.typalign ORDER BY a.attnum),
                                      array_agg(ty.typlen::int ORDER BY a.attnum),
                                      array_agg(coalesce(s.null_frac, 0)::float8 ORDER BY a.attnum))
               AS data_width,
           1 - exp(sum(ln(greatest(1 - coalesce(s.null_frac, 0), 1e-9)))) AS rows_with_nulls
      FROM tables t
      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
      JOIN pg_type ty ON ty.oid = a.atttypid
      LEFT JOIN pg_stats s ON s.schemaname = t.nspname AND s.tablename = t.relname
                          AND s.attname = a.attname AND NOT s.inherited
     GROUP BY t.oid
), est AS (
    SELECT t.*, c.ncols, c.ncols_with_stats,
           -- reltuples (set by VACUUM and ANALYZE) rather than n_live_tup, which a late
           -- flush of counters from before a VACUUM can double
           greatest(t.reltuples, 0)::bigint AS live_tuples,
           -- tuple header (23 bytes, plus the null bitmap on rows with NULLs) padded to 8
           (1 - c.rows_with_nulls) * 24
             + c.rows_with_nulls * (ceil((23 + ceil(coalesce(c.ncols, 0) / 8.0)) / 8) * 8)
             + c.data_width AS tuple_bytes
      FROM tables t LEFT JOIN cols c ON c.oid = t.oid
), quality AS (
    SELECT e.*,
           -- pg_stats shows a role only the columns it may read
           CASE WHEN coalesce(e.ncols_with_stats, 0) < coalesce(e.ncols, 1)
                     AND NOT has_table_privilege(e.oid, 'SELECT') THEN 'statistics not visible'
                WHEN e.ncols_with_stats IS NULL OR e.ncols_with_stats = 0 OR e.reltuples < 0
                    THEN 'no statistics'
                WHEN e.ncols_with_stats < e.ncols THEN 'columns without statistics'
                WHEN e.real_bytes < 10 * current_setting('block_size')::int THEN 'too small'
                -- more rows changed since ANALYZE than the table holds
                WHEN e.n_mod > greatest(e.live_tuples, 1000) THEN 'stale statistics'
                WHEN e.toast_bytes > e.real_bytes THEN 'mostly toast'
                ELSE 'good' END AS estimate_quality
      FROM est e
), sized AS (
    SELECT q.*,
           (q.live_tuples * q.tuple_bytes)::bigint AS expected,
           -- pages a rewrite would fill: page header 24 bytes, a 4-byte line pointer per row,
           -- fillfactor leaves the rest free, at most 291 rows per 8 kB page
           ceil(q.live_tuples / greatest(1, least(
                    floor((current_setting('block_size')::int * q.fillfactor / 100.0 - 24)
                          / (ceil(q.tuple_bytes / 8) * 8 + 4)),
                    floor((current_setting('block_size')::int - 24) / 28.0))))
               * current_setting('block_size')::int AS rewrite_bytes
      FROM quality q
)
SELECT s.nspname AS schema_name,
       s.relname AS table_name,
       s.real_bytes,
       CASE WHEN s.estimate_quality = 'good' THEN s.expected END AS expected_bytes,
       CASE WHEN s.estimate_quality = 'good' THEN greatest(s.real_bytes - s.expected, 0) END
           AS bloat_bytes,
       CASE WHEN s.estimate_quality = 'good' AND s.real_bytes > 0
            THEN round((greatest(s.real_bytes - s.expected, 0)::numeric / s.real_bytes), 4)::float8
       END AS bloat_ratio,
       CASE WHEN s.estimate_quality = 'good'
            THEN greatest(s.real_bytes - s.rewrite_bytes, 0)::bigint END AS reclaimable_bytes,
       s.toast_bytes,
       s.fillfactor,
       s.live_tuples,
       s.n_dead AS dead_tuples,
       pg_stat_get_last_vacuum_time(s.oid) AS last_vacuum,
       pg_stat_get_last_autovacuum_time(s.oid) AS last_autovacuum,
       pg_stat_get_last_analyze_time(s.oid) AS last_analyze,
       pg_stat_get_last_autoanalyze_time(s.oid) AS last_autoanalyze,
       s.estimate_quality
  FROM sized s;

COMMENT ON VIEW vigil.table_bloat IS
    'Statistical heap bloat estimate per user table; numbers are NULL unless estimate_quality is good';

-- A statistical estimate for every btree index of a user table: live item bytes expected from
-- the key columns' pg_stats widths and the index's row count, against its real size.
CREATE VIEW vigil.index_bloat WITH (security_invoker = true) AS
WITH indexes AS (
    SELECT i.indexrelid, i.indrelid, n.nspname, t.relname AS table_name, ic.relname AS index_name,
           ic.reltuples, i.indisunique, i.indnatts,
           coalesce((SELECT substring(o FROM '^fillfactor=(\d+)$')::int
                       FROM unnest(ic.reloptions) o WHERE o LIKE 'fillfactor=%'), 90) AS fillfactor,
           pg_relation_size(i.indexrelid) AS real_bytes
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp'
       AND i.indisvalid
), keycols AS (
    -- a plain column's statistics live under the table, an expression's under the index
    SELECT x.indexrelid, k.ord, a.attname AS index_col, ty.typalign, ty.typlen, k.attnum,
           coalesce(st.avg_width, se.avg_width) AS avg_width,
           coalesce(st.null_frac, se.null_frac) AS null_frac,
           coalesce(st.n_distinct, se.n_distinct) AS n_distinct
      FROM indexes x
      JOIN pg_index i ON i.indexrelid = x.indexrelid
      CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = x.indexrelid AND a.attnum = k.ord
      JOIN pg_type ty ON ty.oid = a.atttypid
      LEFT JOIN pg_attribute ta ON ta.attrelid = x.indrelid AND ta.attnum = k.attnum AND k.attnum > 0
      LEFT JOIN pg_stats st ON k.attnum > 0 AND st.schemaname = x.nspname
                           AND st.tablename = x.table_name AND st.attname = ta.attname
                           AND NOT st.inherited
      LEFT JOIN pg_stats se ON k.attnum = 0 AND se.schemaname = x.nspname
                           AND se.tablename = x.index_name AND se.attname = a.attname
), cols AS (
    SELECT indexrelid, count(*) AS ncols, count(avg_width) AS ncols_with_stats,
           vigil.estimated_data_width(array_agg(coalesce(avg_width, 0)::float8 ORDER BY ord),
                                      array_agg(typalign ORDER BY ord),
                                      array_agg(typlen::int ORDER BY ord),
                                      array_agg(coalesce(null_frac, 0)::float8 ORDER BY ord))
               AS data_width,
           bool_or(null_frac > 0) AS has_nulls,
           -- how distinct the leading column is: btree deduplication packs duplicates
           (array_agg(n_distinct ORDER BY ord))[1] AS lead_distinct
      FROM keycols GROUP BY indexrelid
), est AS (
    SELECT x.*, c.ncols, c.ncols_with_stats,
           -- IndexTupleData (8 bytes), a 4-byte null bitmap when NULLs occur, padded to 8
           ceil((8 + CASE WHEN c.has_nulls THEN 4 ELSE 0 END + c.data_width) / 8) * 8 AS item_bytes,
           greatest(x.reltuples, 0)::bigint AS live_items,
           CASE WHEN c.lead_distinct < 0 THEN -c.lead_distinct
                WHEN x.reltuples > 0 THEN c.lead_distinct / x.reltuples END AS distinct_frac
      FROM indexes x LEFT JOIN cols c ON c.indexrelid = x.indexrelid
), quality AS (
    SELECT e.*,
           CASE WHEN coalesce(e.ncols_with_stats, 0) < coalesce(e.ncols, 1)
                     AND NOT has_table_privilege(e.indrelid, 'SELECT') THEN 'statistics not visible'
                WHEN e.reltuples < 0 OR e.ncols_with_stats IS NULL OR e.ncols_with_stats = 0
                    THEN 'no statistics'
                WHEN e.ncols_with_stats < e.ncols THEN 'columns without statistics'
                WHEN NOT e.indisunique AND e.ncols = 1 AND coalesce(e.distinct_frac, 0) < 0.5
                    THEN 'many duplicates'
                WHEN e.real_bytes < 10 * current_setting('block_size')::int THEN 'too small'
                ELSE 'good' END AS estimate_quality
      FROM est e
), sized AS (
    SELECT q.*,
           (q.live_items * q.item_bytes)::bigint AS expected,
           -- leaf pages a rebuild would fill at the fillfactor (page header 24, btree special
           -- space 16, 4-byte line pointers), plus about one internal page per 300 leaves and
           -- the metapage
           (ceil(q.live_items / greatest(1, floor((current_setting('block_size')::int - 40)
                                                   * q.fillfactor / 100.0 / (q.item_bytes + 4))))
            * (1 + 1 / 300.0) + 1)::bigint * current_setting('block_size')::int AS rebuild_bytes
      FROM quality q
)
SELECT s.nspname AS schema_name,
       s.table_name,
       s.index_name,
       s.real_bytes,
       CASE WHEN s.estimate_quality = 'good' THEN s.expected END AS expected_bytes,
       CASE WHEN s.estimate_quality = 'good' THEN greatest(s.real_bytes - s.expected, 0) END
           AS bloat_bytes,
       CASE WHEN s.estimate_quality = 'good' AND s.real_bytes > 0
            THEN round((greatest(s.real_bytes - s.expected, 0)::numeric / s.real_bytes), 4)::float8
       END AS bloat_ratio,
       CASE WHEN s.estimate_quality = 'good'
            THEN greatest(s.real_bytes - s.rebuild_bytes, 0)::bigint END AS reclaimable_bytes,
       s.fillfactor,
       s.live_items AS live_tuples,
       pg_stat_get_dead_tuples(s.indrelid) AS table_dead_tuples,
       pg_stat_get_last_vacuum_time(s.indrelid) AS last_vacuum,
       pg_stat_get_last_autovacuum_time(s.indrelid) AS last_autovacuum,
       pg_stat_get_last_analyze_time(s.indrelid) AS last_analyze,
       pg_stat_get_last_autoanalyze_time(s.indrelid) AS last_autoanalyze,
       s.estimate_quality
  FROM sized s;

COMMENT ON VIEW vigil.index_bloat IS
    'Statistical btree bloat estimate per index; numbers are NULL unless estimate_quality is good';
