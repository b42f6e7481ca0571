
-- Query insights (docs/queries.md): the costliest statements of pg_stat_statements and the
-- indexes that would make them cheaper. Nothing here creates an index. The building blocks of
-- index_advice (plan_nodes to index_advice_cleanup) take what EXPLAIN output holds, NULL
-- included: a NULL input gives NULL or no row, never an error.

-- The schema-qualified pg_stat_statements view of this database; 55000 when it is not installed.
CREATE FUNCTION vigil.pg_stat_statements_view() RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    schema name;
BEGIN
    SELECT n.nspname INTO schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_stat_statements';
    IF schema IS NULL THEN
        RAISE EXCEPTION 'pg_stat_statements is not installed in database %', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Statement statistics come from the pg_stat_statements extension.',
                  HINT = 'Add pg_stat_statements to shared_preload_libraries, restart the server, '
                         'then run CREATE EXTENSION pg_stat_statements in this database.';
    END IF;
    RETURN format('%I.pg_stat_statements', schema);
END
$$;

-- The statements of this database (or of all, all_databases => true) that cost the most, by
-- total_time, mean_time, calls, rows or temp (temporary blocks read and written). Times are in
-- milliseconds; total_percent is the share of the total execution time of every statement in
-- scope. A role without pg_read_all_stats sees other roles' statements with query_visible false.
CREATE FUNCTION vigil.top_queries(order_by text DEFAULT 'total_time', "limit" int DEFAULT 20,
                                  all_databases boolean DEFAULT false)
    RETURNS TABLE (queryid bigint, calls bigint, total_time_ms float8, mean_time_ms float8,
                   max_time_ms float8, rows bigint, total_percent float8, hit_percent float8,
                   temp_blks_read bigint, temp_blks_written bigint, role_name name,
                   database_name name, toplevel boolean, query_visible boolean, query text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    sort_key text;
BEGIN
    IF order_by IS NULL OR "limit" IS NULL OR all_databases IS NULL THEN
        RAISE EXCEPTION 'arguments of vigil.top_queries() must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave an argument out to use its default.';
    END IF;
    sort_key := CASE order_by
                    WHEN 'total_time' THEN 's.total_exec_time'
                    WHEN 'mean_time' THEN 's.mean_exec_time'
                    WHEN 'calls' THEN 's.calls'
                    WHEN 'rows' THEN 's.rows'
                    WHEN 'temp' THEN 's.temp_blks_read + s.temp_blks_written' END;
    IF sort_key IS NULL THEN
        RAISE EXCEPTION 'unknown order_by %', quote_literal(order_by)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass one of total_time, mean_time, calls, rows, temp.';
    END IF;
    IF "limit" < 1 THEN
        RAISE EXCEPTION 'limit must be at least 1, not %', "limit"
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    RETURN QUERY EXECUTE format($q$
        SELECT s.queryid, s.calls,
               round(s.total_exec_time::numeric, 3)::float8,
               round(s.mean_exec_time::numeric, 3)::float8,
               round(s.max_exec_time::numeric, 3)::float8,
               s.rows,
               round((100 * s.total_exec_time / nullif(sum(s.total_exec_time) OVER (), 0))::numeric, 2)::float8,
               round(100.0 * s.shared_blks_hit / nullif(s.shared_blks_hit + s.shared_blks_read, 0), 2)::float8,
               s.temp_blks_read, s.temp_blks_written, r.rolname, d.datname, s.toplevel,
               s.query IS DISTINCT FROM '<insufficient privilege>', s.query
          FROM %s s
          LEFT JOIN pg_roles r ON r.oid = s.userid
          LEFT JOIN pg_database d ON d.oid = s.dbid
         WHERE $1 OR s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         ORDER BY %s DESC, s.total_exec_time DESC, s.queryid, s.userid
         LIMIT $2 $q$, vigil.pg_stat_statements_view(), sort_key)
        USING all_databases, "limit";
END
$$;

-- The generic plan (EXPLAIN (FORMAT JSON, VERBOSE)) of one normalised statement, whose $n
-- parameters stand for unknown values: it is prepared, explained with NULL parameters under
-- plan_cache_mode = force_generic_plan, and deallocated. Nothing is executed. A parameter
-- whose type the statement does not determine is taken as text. The statement's names are
-- resolved with search_path (by default the caller's, read before this function's own
-- pinned search_path applies); everything else here runs with pg_catalog first.
CREATE FUNCTION vigil.generic_plan(statement text,
                                   search_path text DEFAULT pg_catalog.current_setting('search_path'))
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET plan_cache_mode = force_generic_plan
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    stmt CONSTANT text := 'vigil_generic_plan';
    types text[];
    n int;
    k int;
    plan json;
    cmd text;
BEGIN
    IF statement IS NULL OR search_path IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN statement IS NULL THEN 'statement' ELSE 'search_path' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the statement to plan; leave search_path out to use your own.';
    END IF;
    -- EXECUTE runs every statement of a string: exactly one may be planned.
    IF rtrim(statement, E'; \t\r\n') LIKE '%;%' THEN
        RAISE EXCEPTION 'only a single statement can be planned'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The text contains a semicolon.';
    END IF;
    IF EXISTS (SELECT FROM pg_prepared_statements WHERE name = stmt) THEN
        EXECUTE format('DEALLOCATE %I', stmt);
    END IF;
    n := coalesce((SELECT max(m[1]::int) FROM regexp_matches(statement, '\$(\d+)', 'g') m), 0);
    types := array_fill('unknown'::text, ARRAY[n]);
    LOOP
        BEGIN
            cmd := format('PREPARE %I%s AS %s', stmt,
                          CASE WHEN n > 0 THEN '(' || array_to_string(types, ', ') || ')' ELSE '' END,
                          rtrim(statement, E'; \t\r\n'));
            -- Only the statement itself sees the caller's search_path: every function and
            -- operator of this function is resolved before it is set.
            PERFORM pg_catalog.set_config('search_path', search_path, true);
            EXECUTE cmd;
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            EXIT;
        EXCEPTION WHEN indeterminate_datatype THEN
            k := substring(SQLERRM FROM '\$(\d+)')::int;
            IF k IS NULL OR k > n OR types[k] = 'text' THEN
                RAISE;
            END IF;
            types[k] := 'text';
        END;
    END LOOP;
    BEGIN
        SELECT cardinality(parameter_types) INTO n FROM pg_prepared_statements WHERE name = stmt;
        cmd := format('EXPLAIN (FORMAT JSON, VERBOSE) EXECUTE %I%s', stmt,
                      CASE WHEN n > 0 THEN '(' || array_to_string(array_fill('NULL'::text, ARRAY[n]), ', ') || ')'
                           ELSE '' END);
        PERFORM pg_catalog.set_config('search_path', search_path, true);
        EXECUTE cmd INTO plan;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    EXCEPTION
        WHEN OTHERS THEN
            EXECUTE format('DEALLOCATE %I', stmt);
            RAISE;
        WHEN query_canceled THEN
            EXECUTE format('DEALLOCATE %I', stmt);
            RAISE;
    END;
    EXECUTE format('DEALLOCATE %I', stmt);
    RETURN plan::jsonb;
END
$$;

-- Every node of an EXPLAIN (FORMAT JSON) plan with its path from the root (the root is {1}).
CREATE FUNCTION vigil.plan_nodes(plan jsonb)
    RETURNS TABLE (path int[], node jsonb, parent_type text, grandparent_type text)
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH RECURSIVE n(path, node, parent_type, grandparent_type) AS (
        SELECT ARRAY[1], plan->0->'Plan', NULL::text, NULL::text
         WHERE plan->0->'Plan' IS NOT NULL
        UNION ALL
        SELECT n.path || c.ord::int, c.child, n.node->>'Node Type', n.parent_type
          FROM n, jsonb_array_elements(n.node->'Plans') WITH ORDINALITY AS c(child, ord)
    )
    SELECT * FROM n
    $$;

-- The top-level AND-ed conditions of an EXPLAIN condition ("Filter", "Index Cond"), each
-- without its outer parentheses and casts.
CREATE FUNCTION vigil.plan_conditions(cond text) RETURNS SETOF text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    depth int := 0;
    quote text := NULL;
    start int := 1;
    ch text;
    parts text[] := '{}';
    part text;
BEGIN
    IF cond IS NULL THEN
        RETURN;
    END IF;
    -- strip the parentheses that wrap the whole condition
    WHILE cond LIKE '(%)' AND vigil.plan_parens_balanced(substr(cond, 2, length(cond) - 2)) LOOP
        cond := substr(cond, 2, length(cond) - 2);
    END LOOP;
    FOR i IN 1 .. length(cond) LOOP
        ch := substr(cond, i, 1);
        IF quote IS NOT NULL THEN
            IF ch = quote THEN quote := NULL; END IF;
        ELSIF ch IN ('''', '"') THEN
            quote := ch;
        ELSIF ch = '(' THEN
            depth := depth + 1;
        ELSIF ch = ')' THEN
            depth := depth - 1;
        ELSIF depth = 0 AND substr(cond, i, 5) = ' AND ' THEN
            parts := parts || substr(cond, start, i - start);
            start := i + 5;
        END IF;
    END LOOP;
    parts := parts || substr(cond, start);
    FOREACH part IN ARRAY parts LOOP
        -- casts: ::name, ::schema.name, ::"name", multi-word type names, typmods, arrays
        part := regexp_replace(part,
            '::(("[^"]+"|\w+)\.)?("[^"]+"|\w+)( (varying|precision|with time zone|without time zone))?(\(\d+(,\d+)*\))?(\[\])*',
            '', 'g');
        WHILE part LIKE '(%)' AND vigil.plan_parens_balanced(substr(part, 2, length(part) - 2)) LOOP
            part := substr(part, 2, length(part) - 2);
        END LOOP;
        RETURN NEXT part;
    END LOOP;
END
$$;

-- Whether every parenthesis of s (outside quotes) is closed, and none closes before it opens;
-- NULL for NULL.
CREATE FUNCTION vigil.plan_parens_balanced(s text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    depth int := 0;
    quote text := NULL;
    ch text;
BEGIN
    IF s IS NULL THEN
        RETURN NULL;
    END IF;
    FOR i IN 1 .. length(s) LOOP
        ch := substr(s, i, 1);
        IF quote IS NOT NULL THEN
            IF ch = quote THEN quote := NULL; END IF;
        ELSIF ch IN ('''', '"') THEN
            quote := ch;
        ELSIF ch = '(' THEN
            depth := depth + 1;
        ELSIF ch = ')' THEN
            depth := depth - 1;
            IF depth < 0 THEN RETURN false; END IF;
        END IF;
    END LOOP;
    RETURN depth = 0 AND quote IS NULL;
END
$$;

-- The columns of relation rel (shown as alias in the plan) that a condition of a plan node
-- compares with something a btree can search for: 'equality' (=, = ANY, IS NULL) or 'range'
-- (<, <=, >, >=). A condition under OR, on an expression of the column, or with another
-- operator does not count.
CREATE FUNCTION vigil.condition_columns(cond text, alias text, rel oid)
    RETURNS TABLE (attnum int2, attname name, usage text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH c AS (
        SELECT t FROM vigil.plan_conditions(cond) t WHERE t !~ '\sOR\s'
    ), refs AS (
        SELECT a.attnum, a.attname,
               '\(*' || regexp_replace(quote_ident(alias) || '.' || quote_ident(a.attname),
                                       '([.\\+*?^$(){}|=!<>:#\[\]-])', '\\\1', 'g') || '\)*' AS re
          FROM pg_attribute a
         WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
    ), u AS (
        SELECT r.attnum, r.attname,
               CASE WHEN c.t ~ ('^' || r.re || ' (= |= ANY |IS NULL$)')
                      OR c.t ~ ('^[^<>=]* = ' || r.re || '$') THEN 'equality'
                    WHEN c.t ~ ('^' || r.re || ' (<|<=|>|>=) ')
                      OR c.t ~ ('^[^<>=]* (<|<=|>|>=) ' || r.re || '$') THEN 'range' END AS usage
          FROM refs r, c
    )
    SELECT attnum, attname, min(usage)   -- 'equality' before 'range'
      FROM u WHERE usage IS NOT NULL
     GROUP BY attnum, attname
    $$;

-- The indexes that could replace a sequential scan or a sort in a plan: one row per
-- "Seq Scan" with a Filter and per Sort under a Limit (sort keys on one table, after the
-- columns that table's scan compares for equality). options holds each column's index
-- option bits (1 DESC, 2 NULLS FIRST), -1 where the direction does not matter. problem says
-- why a scan or sort yields no index. The scan, limit and sort-input costs feed the
-- statistical estimate of vigil.index_advice.
CREATE FUNCTION vigil.index_candidates(plan jsonb)
    RETURNS TABLE (relid oid, kind text, attnums int2[], columns name[], equality_columns int,
                   options int[], motive text, problem text, scan_startup float8, scan_cost float8,
                   scan_rows float8, limit_cost float8, limit_rows float8, sort_rows float8,
                   input_startup float8, input_cost float8)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    nodes jsonb;
    n record;
    m record;
    eq int2[];
    eq_names name[];
    rng int2[];
    rng_names name[];
    k text;
    is_desc boolean;
    nulls_first boolean;
    sort_alias text;
    sort_rel oid;
    scan jsonb;
    sort_atts int2[];
    sort_names name[];
    sort_opts int[];
    ok boolean;
BEGIN
    -- every scan of a table, with its alias (unique within a plan) and relation
    nodes := coalesce((SELECT jsonb_agg(jsonb_build_object('path', array_to_string(p.path, '.'), 'node', p.node,
                                                           'rel', c.oid, 'alias', p.node->>'Alias'))
                         FROM vigil.plan_nodes(plan) p
                         JOIN pg_namespace ns ON ns.nspname = p.node->>'Schema'
                         JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = p.node->>'Relation Name'
                        WHERE p.node ? 'Relation Name'
                          AND ns.nspname NOT IN ('pg_catalog', 'information_schema')
                          AND ns.nspname !~ '^pg_(toast|temp)'), '[]');

    -- sequential scans with a filter
    FOR n IN SELECT (x->>'rel')::oid AS rel, x->>'alias' AS alias, x->'node' AS node
               FROM jsonb_array_elements(nodes) x
              WHERE x->'node'->>'Node Type' = 'Seq Scan' AND x->'node' ? 'Filter'
    LOOP
        SELECT array_agg(u.attnum ORDER BY u.attnum) FILTER (WHERE u.usage = 'equality'),
               array_agg(u.attname ORDER BY u.attnum) FILTER (WHERE u.usage = 'equality'),
               array_agg(u.attnum ORDER BY u.attnum) FILTER (WHERE u.usage = 'range'),
               array_agg(u.attname ORDER BY u.attnum) FILTER (WHERE u.usage = 'range')
          INTO eq, eq_names, rng, rng_names
          FROM vigil.condition_columns(n.node->>'Filter', n.alias, n.rel) u;
        relid := n.rel;
        kind := 'filter';
        -- the equality columns, then one range column
        attnums := coalesce(eq, '{}') || coalesce(rng[1:1], '{}');
        columns := nullif(coalesce(eq_names, '{}') || coalesce(rng_names[1:1], '{}'), '{}');
        equality_columns := coalesce(cardinality(eq), 0);
        options := array_fill(-1, ARRAY[cardinality(attnums)]);
        motive := format('sequential scan of %s with filter %s',
                         vigil.plan_relation_name(n.rel), n.node->>'Filter');
        problem := CASE WHEN cardinality(attnums) = 0
                        THEN format('no indexable condition: the sequential scan of %s filters by %s',
                                    vigil.plan_relation_name(n.rel), n.node->>'Filter') END;
        scan_startup := (n.node->>'Startup Cost')::float8;
        scan_cost := (n.node->>'Total Cost')::float8;
        scan_rows := (n.node->>'Plan Rows')::float8;
        limit_cost := NULL; limit_rows := NULL; sort_rows := NULL;
        input_startup := NULL; input_cost := NULL;
        RETURN NEXT;
    END LOOP;

    -- sorts right under a Limit (or under a Gather Merge under a Limit)
    FOR n IN SELECT s.path, s.node, l.node AS limit_node, s.node->'Plans'->0 AS input
               FROM vigil.plan_nodes(plan) s
               JOIN vigil.plan_nodes(plan) l
                 ON l.node->>'Node Type' = 'Limit'
                AND (l.path = s.path[1:cardinality(s.path) - 1]
                     OR (s.parent_type = 'Gather Merge' AND l.path = s.path[1:cardinality(s.path) - 2]))
              WHERE s.node->>'Node Type' IN ('Sort', 'Incremental Sort')
    LOOP
        ok := true;
        sort_alias := NULL;
        sort_atts := '{}'; sort_names := '{}'; sort_opts := '{}';
        FOR k IN SELECT jsonb_array_elements_text(n.node->'Sort Key') LOOP
            nulls_first := NULL;
            IF k LIKE '% NULLS FIRST' THEN
                nulls_first := true; k := left(k, -12);
            ELSIF k LIKE '% NULLS LAST' THEN
                nulls_first := false; k := left(k, -11);
            END IF;
            is_desc := k LIKE '% DESC';
            IF is_desc THEN k := left(k, -5); END IF;
            nulls_first := coalesce(nulls_first, is_desc);
            SELECT x->>'alias' AS alias, (x->>'rel')::oid AS rel, a.attnum, a.attname INTO m
              FROM jsonb_array_elements(nodes) x
              JOIN pg_attribute a ON a.attrelid = (x->>'rel')::oid AND a.attnum > 0 AND NOT a.attisdropped
             WHERE x->>'path' LIKE array_to_string(n.path, '.') || '.%'
               AND quote_ident(x->>'alias') || '.' || quote_ident(a.attname) = k
             LIMIT 1;
            IF NOT FOUND OR m.alias IS DISTINCT FROM coalesce(sort_alias, m.alias) THEN
                ok := false;
                EXIT;
            END IF;
            sort_alias := m.alias;
            sort_rel := m.rel;
            IF m.attnum = ANY (sort_atts) THEN
                CONTINUE;
            END IF;
            sort_atts := sort_atts || m.attnum;
            sort_names := sort_names || m.attname;
            sort_opts := sort_opts || (CASE WHEN is_desc THEN 1 ELSE 0 END + CASE WHEN nulls_first THEN 2 ELSE 0 END);
        END LOOP;

        kind := 'sort';
        motive := format('sort by %s under LIMIT',
                         (SELECT string_agg(e, ', ') FROM jsonb_array_elements_text(n.node->'Sort Key') e));
        limit_cost := (n.limit_node->>'Total Cost')::float8;
        limit_rows := (n.limit_node->>'Plan Rows')::float8;
        sort_rows := (n.node->>'Plan Rows')::float8;
        input_startup := (n.input->>'Startup Cost')::float8;
        input_cost := (n.input->>'Total Cost')::float8;
        IF NOT ok THEN
            relid := NULL; attnums := NULL; columns := NULL; equality_columns := NULL; options := NULL;
            scan_startup := NULL; scan_cost := NULL; scan_rows := NULL;
            problem := CASE WHEN EXISTS (SELECT FROM jsonb_array_elements(nodes) x
                                           JOIN pg_class c ON c.oid = (x->>'rel')::oid
                                          WHERE c.relispartition
                                            AND x->>'path' LIKE array_to_string(n.path, '.') || '.%')
                            THEN format('not advised for a partitioned table: the %s', motive)
                            ELSE format('sort keys are not columns of one table: the %s', motive) END;
            RETURN NEXT;
            CONTINUE;
        END IF;

        -- an index read backwards serves the reversed order too: of the two, the one with
        -- fewer DESC and NULLS options (ORDER BY created_at DESC: an index on created_at)
        IF (SELECT sum((o & 1) + CASE WHEN (o & 2 = 2) <> (o & 1 = 1) THEN 1 ELSE 0 END)
              FROM unnest(sort_opts) o)
           > (SELECT sum(((o # 3) & 1) + CASE WHEN ((o # 3) & 2 = 2) <> ((o # 3) & 1 = 1) THEN 1 ELSE 0 END)
                FROM unnest(sort_opts) o) THEN
            sort_opts := ARRAY(SELECT o # 3 FROM unnest(sort_opts) o);
        END IF;
        -- the table's scan under the sort: columns it compares for equality lead the index
        scan := (SELECT x->'node' FROM jsonb_array_elements(nodes) x
                  WHERE x->>'alias' = sort_alias AND (x->>'rel')::oid = sort_rel LIMIT 1);
        SELECT array_agg(u.attnum ORDER BY u.attnum), array_agg(u.attname ORDER BY u.attnum) INTO eq, eq_names
          FROM (SELECT DISTINCT u.attnum, u.attname
                  FROM unnest(ARRAY[scan->>'Filter', scan->>'Index Cond', scan->>'Recheck Cond']) cond,
                       vigil.condition_columns(cond, sort_alias, sort_rel) u
                 WHERE u.usage = 'equality' AND u.attnum <> ALL (sort_atts)) u;
        relid := sort_rel;
        attnums := coalesce(eq, '{}') || sort_atts;
        columns := coalesce(eq_names, '{}') || sort_names;
        equality_columns := coalesce(cardinality(eq), 0);
        options := array_fill(-1, ARRAY[equality_columns]) || sort_opts;
        motive := format('sort of %s by %s under LIMIT', vigil.plan_relation_name(sort_rel),
                         (SELECT string_agg(e, ', ') FROM jsonb_array_elements_text(n.node->'Sort Key') e));
        problem := NULL;
        scan_startup := (scan->>'Startup Cost')::float8;
        scan_cost := (scan->>'Total Cost')::float8;
        scan_rows := (scan->>'Plan Rows')::float8;
        RETURN NEXT;
    END LOOP;
END
$$;

-- "schema"."table" of a relation, always qualified.
CREATE FUNCTION vigil.plan_relation_name(rel oid) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT format('%I.%I', n.nspname, c.relname)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel
    $$;

-- A valid, non-partial btree index of rel whose leading columns are attnums: the first
-- equality_columns of them in any order, the rest in order with the directions of options
-- (all of them reversed is as good: the index is read backwards).
CREATE FUNCTION vigil.covering_index(rel oid, attnums int2[], equality_columns int, options int[])
    RETURNS regclass
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT i.indexrelid::regclass
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_am am ON am.oid = ic.relam
     WHERE i.indrelid = rel AND i.indisvalid AND i.indpred IS NULL AND am.amname = 'btree'
       AND i.indnkeyatts >= cardinality(attnums)
       AND (SELECT array_agg(k ORDER BY k) FROM unnest((i.indkey::int2[])[0:equality_columns - 1]) k)
           IS NOT DISTINCT FROM (SELECT array_agg(k ORDER BY k) FROM unnest(attnums[1:equality_columns]) k)
       AND (i.indkey::int2[])[equality_columns:cardinality(attnums) - 1]
           = attnums[equality_columns + 1:cardinality(attnums)]
       AND (NOT EXISTS (SELECT FROM generate_subscripts(attnums, 1) j
                         WHERE options[j] >= 0 AND ((i.indoption::int2[])[j - 1] & 3) <> options[j])
            OR NOT EXISTS (SELECT FROM generate_subscripts(attnums, 1) j
                            WHERE options[j] >= 0 AND ((i.indoption::int2[])[j - 1] & 3) <> (options[j] # 3)))
     ORDER BY ic.relname
     LIMIT 1
    $$;

-- The planner's cost of reading fetched_rows rows of rel through a btree index whose first
-- column is leading_column, estimated from statistics the way cost_index does it: index
-- pages, and heap pages between one random read per row and the matching share of the table
-- read in order, interpolated by the square of the column's correlation (pg_stats).
CREATE FUNCTION vigil.estimated_index_scan_cost(rel oid, leading_column int2, fetched_rows float8)
    RETURNS float8
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH t AS (
        SELECT greatest(c.reltuples, 1)::float8 AS tuples, greatest(c.relpages, 1)::float8 AS pages,
               least(greatest(fetched_rows, 1) / greatest(c.reltuples, 1), 1) AS sel,
               greatest(fetched_rows, 1) AS rows,
               coalesce((SELECT s.correlation FROM pg_stats s JOIN pg_attribute a
                                ON a.attrelid = rel AND a.attnum = leading_column AND a.attname = s.attname
                          WHERE s.schemaname = n.nspname AND s.tablename = c.relname
                            AND NOT s.inherited), 0)::float8 AS corr,
               current_setting('random_page_cost')::float8 AS rpc,
               current_setting('seq_page_cost')::float8 AS spc
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = rel
    ), io AS (
        SELECT t.*, least(t.rows, t.pages) * t.rpc AS max_io,
               t.rpc + greatest(ceil(t.sel * t.pages) - 1, 0) * t.spc AS min_io
          FROM t
    )
    SELECT (ceil(sel * tuples / 200) + 1) * rpc
           + rows * (current_setting('cpu_index_tuple_cost')::float8
                     + current_setting('cpu_operator_cost')::float8
                     + current_setting('cpu_tuple_cost')::float8)
           + max_io + corr * corr * (min_io - max_io)
      FROM io
    $$;

-- Drops what index_advice may have left in the session: its prepared statement and the
-- hypothetical indexes it created (neither goes away with a rollback).
CREATE FUNCTION vigil.index_advice_cleanup(hypopg_schema name, hypothetical oid[]) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    h oid;
BEGIN
    IF EXISTS (SELECT FROM pg_prepared_statements WHERE name = 'vigil_generic_plan') THEN
        DEALLOCATE vigil_generic_plan;
    END IF;
    IF hypopg_schema IS NOT NULL THEN
        FOREACH h IN ARRAY coalesce(hypothetical, '{}') LOOP
            EXECUTE format('SELECT %I.hypopg_drop_index($1)', hypopg_schema) USING h;
        END LOOP;
    END IF;
END
$$;

-- Indexes for the statements that cost the most (the first `statements` of this database by
-- total time): an index that would replace a filtered sequential scan of a table of at least
-- min_rows rows, or a sort under LIMIT, measured on the statement's generic plan with a
-- hypothetical index (hypopg, when installed in this database) or estimated from statistics.
-- create_index is set when the plan's cost falls by at least min_improvement times; every
-- statement gets at least one row, and reason says why an index is proposed or why not.
CREATE FUNCTION vigil.index_advice(statements int DEFAULT 20, min_rows bigint DEFAULT 10000,
                                   min_improvement float8 DEFAULT 2,
                                   lock_timeout interval DEFAULT '500ms',
                                   search_path text DEFAULT pg_catalog.current_setting('search_path'))
    RETURNS TABLE (queryid bigint, query text, total_time_ms float8, table_name text,
                   columns name[], create_index text, cost_before float8, cost_after float8,
                   improvement float8, method text, reason text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    hypopg_schema name;
    hypothetical oid[] := '{}';
    lock_ms bigint;
    s record;
    c record;
    plan jsonb;
    plan_after jsonb;
    found_candidate boolean;
    used text;
    hypo_oid oid;
    hypo_name text;
    index_def text;
    fraction float8;
    tuples float8;
BEGIN
    IF statements IS NULL OR min_rows IS NULL OR min_improvement IS NULL OR lock_timeout IS NULL
       OR search_path IS NULL THEN
        RAISE EXCEPTION 'arguments of vigil.index_advice() must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave an argument out to use its default.';
    END IF;
    IF statements < 1 OR min_rows < 0 OR min_improvement <= 0 OR lock_timeout < interval '0' THEN
        RAISE EXCEPTION 'invalid argument of vigil.index_advice()'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'statements must be at least 1, min_rows and lock_timeout not negative, '
                         'min_improvement above 0.';
    END IF;
    SELECT n.nspname INTO hypopg_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'hypopg';
    -- planning waits for locks at most this long (or the caller's lock_timeout, if shorter)
    lock_ms := ceil(extract(epoch FROM lock_timeout) * 1000);
    IF current_setting('lock_timeout') <> '0'
       AND (lock_ms = 0 OR (SELECT setting::bigint FROM pg_settings WHERE name = 'lock_timeout') < lock_ms) THEN
        lock_ms := (SELECT setting::bigint FROM pg_settings WHERE name = 'lock_timeout');
    END IF;

    FOR s IN EXECUTE format($q$
        SELECT s.queryid, min(s.query) AS query, sum(s.total_exec_time) AS total_time, count(*) AS entries
          FROM %s s
         WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         GROUP BY s.queryid
         ORDER BY sum(s.total_exec_time) DESC, s.queryid
         LIMIT $1 $q$, vigil.pg_stat_statements_view()) USING statements
    LOOP
        queryid := s.queryid;
        query := s.query;
        total_time_ms := round(s.total_time::numeric, 3)::float8;
        table_name := NULL; columns := NULL; create_index := NULL; cost_before := NULL;
        cost_after := NULL; improvement := NULL; method := NULL;
        IF s.queryid IS NULL OR s.query = '<insufficient privilege>' THEN
            reason := format('query text not visible: %s statement(s) of other roles; '
                             'pg_read_all_stats or superuser sees them', s.entries);
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF lower(substring(s.query FROM '^(?:\s|\(|/\*.*?\*/|--[^\n]*)*(\w+)'))
           NOT IN ('select', 'with', 'insert', 'update', 'delete', 'merge', 'values', 'table') THEN
            reason := 'not planned: a utility statement';
            RETURN NEXT;
            CONTINUE;
        END IF;

        -- The block always ends in an error, so that its subtransaction rolls back: the locks
        -- taken to plan the statement are released and the settings made here are undone.
        BEGIN
            IF lock_ms > 0 THEN
                PERFORM set_config('lock_timeout', lock_ms || 'ms', true);
            END IF;
            plan := vigil.generic_plan(s.query, search_path);
            cost_before := (plan->0->'Plan'->>'Total Cost')::float8;
            found_candidate := false;
            FOR c IN
                WITH cand AS MATERIALIZED (SELECT * FROM vigil.index_candidates(plan))
                SELECT DISTINCT ON (c1.relid, c1.attnums, c1.options, c1.problem) c1.*,
                       cl.reltuples
                  FROM cand c1 LEFT JOIN pg_class cl ON cl.oid = c1.relid
                 -- an index that another candidate's index starts with is not proposed
                 WHERE c1.problem IS NOT NULL
                    OR NOT EXISTS (SELECT FROM cand c2
                                    WHERE c2.problem IS NULL AND c2.relid = c1.relid
                                      AND cardinality(c2.attnums) > cardinality(c1.attnums)
                                      AND c2.attnums[1:cardinality(c1.attnums)] = c1.attnums
                                      AND (c1.kind = 'filter'
                                           OR c2.options[1:cardinality(c1.options)] = c1.options))
                 ORDER BY c1.relid, c1.attnums, c1.options, c1.problem
            LOOP
                found_candidate := true;
                table_name := vigil.plan_relation_name(c.relid);
                columns := c.columns;
                create_index := NULL; cost_after := NULL; improvement := NULL; method := NULL;
                IF c.problem IS NOT NULL THEN
                    reason := c.problem;
                    RETURN NEXT;
                    CONTINUE;
                END IF;
                IF c.reltuples >= 0 AND c.reltuples < min_rows THEN
                    reason := format('table small: %s has about %s rows (min_rows %s)',
                                     table_name, c.reltuples::bigint, min_rows);
                    RETURN NEXT;
                    CONTINUE;
                END IF;
                used := vigil.covering_index(c.relid, c.attnums, c.equality_columns, c.options)::text;
                IF used IS NOT NULL THEN
                    reason := format('already indexed: %s covers (%s) for the %s', used,
                                     array_to_string(c.columns, ', '), c.motive);
                    RETURN NEXT;
                    CONTINUE;
                END IF;
                index_def := format('%s (%s)', table_name,
                    (SELECT string_agg(quote_ident(col)
                                       || CASE WHEN o >= 0 AND o & 1 = 1 THEN ' DESC' ELSE '' END
                                       || CASE WHEN o >= 0 AND o & 2 = 2 AND o & 1 = 0 THEN ' NULLS FIRST'
                                               WHEN o >= 0 AND o & 2 = 0 AND o & 1 = 1 THEN ' NULLS LAST'
                                               ELSE '' END, ', ' ORDER BY j)
                       FROM unnest(c.columns, c.options) WITH ORDINALITY AS x(col, o, j)));

                IF hypopg_schema IS NOT NULL THEN
                    method := 'hypopg';
                    BEGIN
                        EXECUTE format('SELECT indexrelid, indexname FROM %I.hypopg_create_index($1)',
                                       hypopg_schema)
                            INTO hypo_oid, hypo_name USING 'CREATE INDEX ON ' || index_def;
                        hypothetical := hypothetical || hypo_oid;
                        plan_after := vigil.generic_plan(s.query, search_path);
                        EXECUTE format('SELECT %I.hypopg_drop_index($1)', hypopg_schema) USING hypo_oid;
                        hypothetical := array_remove(hypothetical, hypo_oid);
                    EXCEPTION WHEN OTHERS THEN
                        reason := 'could not be measured: ' || SQLERRM;
                        RETURN NEXT;
                        CONTINUE;
                    END;
                    cost_after := (plan_after->0->'Plan'->>'Total Cost')::float8;
                    improvement := round((cost_before / greatest(cost_after, 0.01))::numeric, 1)::float8;
                    IF NOT EXISTS (SELECT FROM vigil.plan_nodes(plan_after) p
                                    WHERE p.node->>'Index Name' = hypo_name) THEN
                        reason := format('the planner would not use an index on %s for the %s',
                                         index_def, c.motive);
                        RETURN NEXT;
                        CONTINUE;
                    END IF;
                ELSE
                    method := 'statistics';
                    tuples := greatest(c.reltuples, c.scan_rows, 1);
                    IF c.kind = 'filter' THEN
                        cost_after := cost_before - c.scan_cost
                                      + vigil.estimated_index_scan_cost(c.relid, c.attnums[1], c.scan_rows);
                    ELSE
                        -- the part of the input the Limit reads, with the index instead of the scan
                        fraction := least(1, c.limit_rows / greatest(c.sort_rows, 1));
                        cost_after := (cost_before - c.limit_cost)
                                      + greatest(c.input_startup - c.scan_startup, 0)
                                      + fraction * greatest((c.input_cost - c.input_startup)
                                                            - (c.scan_cost - c.scan_startup)
                                                            + vigil.estimated_index_scan_cost(
                                                                  c.relid, c.attnums[1], c.scan_rows), 0);
                    END IF;
                    cost_after := round(greatest(cost_after, 0.01)::numeric, 2)::float8;
                    improvement := round((cost_before / cost_after)::numeric, 1)::float8;
                END IF;
                IF improvement < min_improvement THEN
                    reason := format('not worth it: with an index on %s the plan would cost %s instead of %s '
                                     '(min_improvement %s)', index_def, cost_after, cost_before, min_improvement);
                ELSE
                    create_index := 'CREATE INDEX CONCURRENTLY ON ' || index_def;
                    reason := c.motive;
                END IF;
                RETURN NEXT;
            END LOOP;

            IF NOT found_candidate THEN
                table_name := NULL; columns := NULL; create_index := NULL; cost_after := NULL;
                improvement := NULL; method := NULL;
                used := (SELECT string_agg(DISTINCT quote_ident(p.node->>'Index Name'), ', ')
                           FROM vigil.plan_nodes(plan) p WHERE p.node ? 'Index Name');
                reason := CASE WHEN used IS NOT NULL
                               THEN format('already indexed: the plan reads %s', used)
                               ELSE 'nothing to index: no filtered sequential scan and no sort under LIMIT' END;
                RETURN NEXT;
            END IF;
            RAISE SQLSTATE 'VGRB0';
        EXCEPTION
            WHEN SQLSTATE 'VGRB0' THEN
                NULL;
            WHEN query_canceled THEN
                PERFORM vigil.index_advice_cleanup(hypopg_schema, hypothetical);
                RAISE;
            WHEN OTHERS THEN
                table_name := NULL; columns := NULL; create_index := NULL; cost_before := NULL;
                cost_after := NULL; improvement := NULL; method := NULL;
                reason := 'could not be planned: ' || SQLERRM;
                RETURN NEXT;
        END;
        PERFORM vigil.index_advice_cleanup(hypopg_schema, hypothetical);
        hypothetical := '{}';
    END LOOP;
END
$$;
