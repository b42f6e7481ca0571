-- Optimistic updates: vigil.enable_versioning / disable_versioning, the versioning trigger,
-- vigil.optimistic_update and vigil.optimistic_delete. Every text and jsonb argument is also fed
-- quotes, semicolons and '); DROP TABLE ...; -- fragments: each call either fails with a clear
-- error or does exactly the right thing, and every table is intact at the end.
\set VERBOSITY default

CREATE TABLE opt_accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL,
                       tags text[], meta jsonb);
INSERT INTO opt_accounts VALUES (1, 'ann', 100, '{a}', '{}'), (2, 'bob', 50, NULL, NULL), (3, 'cy', 0, NULL, NULL);

-- enable_versioning adds "version bigint NOT NULL DEFAULT 1" and the trigger.
SELECT vigil.enable_versioning('opt_accounts');
SELECT attname, format_type(atttypid, atttypmod), attnotnull, pg_get_expr(adbin, adrelid) AS default
  FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum
 WHERE attrelid = 'opt_accounts'::regclass AND attname = 'version';
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'opt_accounts'::regclass;
-- Enabling twice is harmless: nothing is made again, so an ENABLE ALWAYS (for replicas) stays.
SELECT vigil.enable_versioning('opt_accounts');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'opt_accounts'::regclass;
ALTER TABLE opt_accounts ENABLE ALWAYS TRIGGER vigil_versioning;
SELECT vigil.enable_versioning('opt_accounts');
SELECT tgenabled AS still_always FROM pg_trigger WHERE tgrelid = 'opt_accounts'::regclass;
ALTER TABLE opt_accounts ENABLE TRIGGER vigil_versioning;
-- Another column is refused, not moved to: the trigger would stop guarding the first one and
-- leave it behind. The hint says how to switch.
SELECT vigil.enable_versioning('opt_accounts', 'rev');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS rev_columns FROM pg_attribute WHERE attrelid = 'opt_accounts'::regclass AND attname = 'rev';
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'opt_accounts'::regclass;

-- The trigger: a plain update bumps the version of every row it touches.
UPDATE opt_accounts SET balance = balance + 1;
SELECT id, balance, version FROM opt_accounts ORDER BY id;
-- Naming the version that was read is accepted (and bumps it) ...
UPDATE opt_accounts SET balance = 10, version = 2 WHERE id = 1;
SELECT id, balance, version FROM opt_accounts WHERE id = 1;
-- ... a stale version is a lost update: 40001, naming the table, expected and actual versions.
UPDATE opt_accounts SET balance = 99, version = 2 WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
UPDATE opt_accounts SET version = NULL WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
SELECT id, balance, version FROM opt_accounts WHERE id = 1;
-- The trigger function refuses to be misused.
SELECT vigil.versioning_trigger();
\echo :LAST_ERROR_SQLSTATE

-- The trigger writes the new version into a copy of the row: columns of every width and NULLs
-- before and after it are kept, and a version at its type's maximum is an error, not a wrap.
CREATE TABLE opt_layout (id int PRIMARY KEY, a text, b int2, c numeric, d bool, v smallint NOT NULL DEFAULT 1, e text);
INSERT INTO opt_layout VALUES (1, 'x', 1, 1.5, true, 1, 'tail'), (2, NULL, NULL, NULL, NULL, 1, NULL),
                          (3, repeat('long', 100), 7, NULL, false, 1, 'e');
SELECT vigil.enable_versioning('opt_layout', 'v');
UPDATE opt_layout SET d = NOT d;
UPDATE opt_layout SET e = coalesce(e, '') || '!';
SELECT id, a IS NULL AS a_null, length(a) AS a_len, b, c, d, v, e FROM opt_layout ORDER BY id;
SELECT vigil.disable_versioning('opt_layout');
UPDATE opt_layout SET v = 32767 WHERE id = 1;
SELECT vigil.enable_versioning('opt_layout', 'v');
UPDATE opt_layout SET d = true WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
DROP TABLE opt_layout;

-- optimistic_update: updated, conflict, not_found.
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 2}', 2, '{"balance": 75.5, "owner": "bob b."}');
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 2}', 2, '{"balance": 80}');
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 42}', 1, '{"balance": 80}');
SELECT id, owner, balance, version FROM opt_accounts WHERE id = 2;
-- Values go through each column's type input: strings, numbers, booleans, JSON null as SQL
-- NULL, arrays in their text form, any JSON for a jsonb column.
SELECT status, new_version FROM vigil.optimistic_update('opt_accounts', '{"id": "3"}', 2,
       '{"balance": "12.345", "tags": "{x,\"y z\"}", "meta": {"nested": [1, "two", null]}}');
SELECT status, new_version FROM vigil.optimistic_update('opt_accounts', '{"id": 3}', 3, '{"tags": null, "meta": "just a string"}');
SELECT id, balance, tags, meta, version FROM opt_accounts WHERE id = 3;
-- No changes only bumps the version.
SELECT status, new_version FROM vigil.optimistic_update('opt_accounts', '{"id": 3}', 4, '{}');

-- Bad calls: each a clear error, nothing changed.
SELECT * FROM vigil.optimistic_update(NULL, '{"id": 1}', 1, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', NULL, 1, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', NULL, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{}', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '[1]', 3, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '1', 3, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '"balance"');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{}', 3, '{"balance": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1, "owner": "ann"}', 3, '{"balance": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1, "nope": 1}', 3, '{"balance": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"ID": 1}', 3, '{"balance": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": null}', 3, '{"balance": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": "one"}', 3, '{"balance": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{"nope": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{"ctid": "(0,1)"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{"id": 7}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{"version": 7}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{"balance": "a lot"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{"balance": 1e20}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{"owner": null}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{"tags": ["a", "b"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{"balance": 1}', 'nope');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{"balance": 1}', 'owner');
\echo :LAST_ERROR_SQLSTATE
SELECT id, owner, balance, tags, version FROM opt_accounts ORDER BY id;

-- Injection attempts in every text and jsonb argument.
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": "1); DROP TABLE opt_accounts; --"}', 3, '{"balance": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id = id OR true; --": 1}', 3, '{"balance": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{"balance = 0, owner": "x"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{"owner\"; DROP TABLE opt_accounts; --": "x"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3, '{"balance": 1}', 'version" = 0; DROP TABLE opt_accounts; --');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts; DROP TABLE opt_accounts', '{"id": 1}', 3, '{}');
\echo :LAST_ERROR_SQLSTATE
-- A value is data, stored exactly as given.
SELECT status, new_version FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 3,
       $${"owner": "'); DROP TABLE opt_accounts; --", "meta": {"k'; --": "v\"; DROP"}}$$);
SELECT owner, meta FROM opt_accounts WHERE id = 1;

-- Text keys, composite keys and identifiers that need quoting.
CREATE TABLE "Odd ""Table""; DROP TABLE opt_accounts; --" (
    "tenant id" text, "k;ey" int, "val'ue" text, "v""er" int NOT NULL DEFAULT 1,
    PRIMARY KEY ("tenant id", "k;ey"));
INSERT INTO "Odd ""Table""; DROP TABLE opt_accounts; --" VALUES ($$a'; DROP TABLE opt_accounts; --$$, 1, 'x');
SELECT * FROM vigil.optimistic_update('"Odd ""Table""; DROP TABLE opt_accounts; --"',
       $${"tenant id": "a'; DROP TABLE opt_accounts; --", "k;ey": 1}$$, 1, '{"val''ue": "y"}', 'v"er');
SELECT * FROM vigil.optimistic_update('"Odd ""Table""; DROP TABLE opt_accounts; --"',
       '{"tenant id": "a", "k;ey": 1}', 1, '{"val''ue": "y"}', 'v"er');
SELECT * FROM vigil.optimistic_update('"Odd ""Table""; DROP TABLE opt_accounts; --"',
       '{"tenant id": "a"}', 1, '{}', 'v"er');
\echo :LAST_ERROR_SQLSTATE
-- A hostile version-column name is quoted in the DDL and in the trigger's argument.
SELECT vigil.enable_versioning('"Odd ""Table""; DROP TABLE opt_accounts; --"', $$rev'); DROP TABLE opt_accounts; --$$);
SELECT * FROM "Odd ""Table""; DROP TABLE opt_accounts; --";
UPDATE "Odd ""Table""; DROP TABLE opt_accounts; --" SET "val'ue" = 'z';
SELECT "val'ue", "v""er", "rev'); DROP TABLE opt_accounts; --" AS rev FROM "Odd ""Table""; DROP TABLE opt_accounts; --";
SELECT * FROM vigil.optimistic_delete('"Odd ""Table""; DROP TABLE opt_accounts; --"',
       $${"tenant id": "a'; DROP TABLE opt_accounts; --", "k;ey": 1}$$, 1, $$rev'); DROP TABLE opt_accounts; --$$);
SELECT * FROM vigil.optimistic_delete('"Odd ""Table""; DROP TABLE opt_accounts; --"',
       $${"tenant id": "a'; DROP TABLE opt_accounts; --", "k;ey": 1}$$, 2, $$rev'); DROP TABLE opt_accounts; --$$);
SELECT count(*) AS odd_rows FROM "Odd ""Table""; DROP TABLE opt_accounts; --";
DROP TABLE "Odd ""Table""; DROP TABLE opt_accounts; --";

-- Switching columns: disable_versioning, then enable_versioning with the new one. The old
-- column and its values stay. A version column dropped since is added back by a rerun.
CREATE TABLE opt_switch (id int PRIMARY KEY, note text);
INSERT INTO opt_switch VALUES (1, 'a');
SELECT vigil.enable_versioning('opt_switch');
SELECT vigil.disable_versioning('opt_switch');
SELECT vigil.enable_versioning('opt_switch', 'rev');
UPDATE opt_switch SET note = 'b';
SELECT id, note, version, rev FROM opt_switch;
ALTER TABLE opt_switch DROP COLUMN rev;
SELECT vigil.enable_versioning('opt_switch', 'rev');
UPDATE opt_switch SET note = 'c';
SELECT id, note, version, rev FROM opt_switch;
-- A trigger of that name that is not pgvigil's is neither replaced nor dropped.
SELECT vigil.disable_versioning('opt_switch');
CREATE TRIGGER vigil_versioning BEFORE UPDATE ON opt_switch
    FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
SELECT vigil.enable_versioning('opt_switch', 'rev');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.disable_versioning('opt_switch');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE opt_switch;

-- Arguments are checked before anything runs: no internal statement shows in an error.
SELECT vigil.enable_versioning('opt_accounts', '');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.enable_versioning('opt_accounts', 'xmin');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update(0, '{"id": 1}', 1, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_delete(0, '{"id": 1}', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.enable_versioning(0);
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.disable_versioning(0);
\echo :LAST_ERROR_SQLSTATE

-- enable_versioning refuses what it cannot version.
CREATE TABLE opt_int_versioned (id int PRIMARY KEY, v int NOT NULL DEFAULT 1, note text);
INSERT INTO opt_int_versioned VALUES (1, 5, 'x');
SELECT vigil.enable_versioning('opt_int_versioned', 'v');
SELECT * FROM vigil.optimistic_update('opt_int_versioned', '{"id": 1}', 5, '{"note": "y"}', 'v');
SELECT vigil.enable_versioning('opt_int_versioned', 'id');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_int_versioned', '{"id": 1}', 1, '{"note": "z"}', 'id');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE opt_text_versioned (id int PRIMARY KEY, version text);
SELECT vigil.enable_versioning('opt_text_versioned');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE opt_nullable_versioned (id int PRIMARY KEY, version int);
SELECT vigil.enable_versioning('opt_nullable_versioned');
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW opt_accounts_view AS SELECT * FROM opt_accounts;
SELECT vigil.enable_versioning('opt_accounts_view');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_update('opt_accounts_view', '{"id": 1}', 1, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.enable_versioning(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.enable_versioning('opt_accounts', NULL);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE opt_no_pk (id int, version bigint NOT NULL DEFAULT 1);
INSERT INTO opt_no_pk VALUES (1);
SELECT * FROM vigil.optimistic_update('opt_no_pk', '{"id": 1}', 1, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_delete('opt_no_pk', '{"id": 1}', 1);
\echo :LAST_ERROR_SQLSTATE

-- Without the trigger, optimistic_update bumps the version itself.
SELECT vigil.disable_versioning('opt_accounts');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'opt_accounts'::regclass;
UPDATE opt_accounts SET balance = 5 WHERE id = 2;
SELECT version AS unchanged_by_plain_update FROM opt_accounts WHERE id = 2;
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 2}', 3, '{"balance": 6}');
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 2}', 3, '{"balance": 7}');
SELECT vigil.disable_versioning('opt_accounts');

-- optimistic_delete.
SELECT * FROM vigil.optimistic_delete('opt_accounts', '{"id": 2}', 3);
SELECT * FROM vigil.optimistic_delete('opt_accounts', '{"id": 2}', 4);
SELECT * FROM vigil.optimistic_delete('opt_accounts', '{"id": 2}', 4);
SELECT * FROM vigil.optimistic_delete('opt_accounts', '{"id": 3}', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_delete('opt_accounts', '{"id": "3 OR 1=1"}', 5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_delete('opt_accounts', '{"id": 3, "owner": "cy"}', 5);
\echo :LAST_ERROR_SQLSTATE

-- Partitioned tables: the trigger is cloned to every partition, whatever its column order
-- (opt_orders_us has a dropped column and its own opt_layout), and optimistic_update routes by key.
CREATE TABLE opt_orders (region text, id int, total numeric, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
CREATE TABLE opt_orders_eu PARTITION OF opt_orders FOR VALUES IN ('eu');
CREATE TABLE opt_orders_us (total numeric, junk int, id int NOT NULL, region text NOT NULL);
ALTER TABLE opt_orders_us DROP COLUMN junk;
ALTER TABLE opt_orders ATTACH PARTITION opt_orders_us FOR VALUES IN ('us');
INSERT INTO opt_orders VALUES ('eu', 1, 10), ('us', 1, 20);
SELECT vigil.enable_versioning('opt_orders');
UPDATE opt_orders SET total = total + 1;
SELECT * FROM vigil.optimistic_update('opt_orders', '{"region": "us", "id": 1}', 2, '{"total": 99}');
SELECT * FROM vigil.optimistic_update('opt_orders', '{"region": "us", "id": 1}', 2, '{"total": 98}');
UPDATE opt_orders SET total = 0, version = 1 WHERE region = 'eu';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_delete('opt_orders', '{"region": "eu", "id": 1}', 2);
SELECT tableoid::regclass AS partition, * FROM opt_orders ORDER BY region;
DROP TABLE opt_orders;

-- What optimistic_update caches about a table follows DDL: renamed table and schema, a new key.
CREATE SCHEMA opt_cache_s;
CREATE TABLE opt_cache_s.t (a int PRIMARY KEY, b int NOT NULL, version bigint NOT NULL DEFAULT 1);
INSERT INTO opt_cache_s.t VALUES (1, 1);
SELECT status FROM vigil.optimistic_update('opt_cache_s.t', '{"a": 1}', 1, '{"b": 2}');
ALTER TABLE opt_cache_s.t RENAME TO t2;
ALTER SCHEMA opt_cache_s RENAME TO opt_cache_s2;
SELECT status FROM vigil.optimistic_update('opt_cache_s2.t2', '{"a": 1}', 2, '{"b": 3}');
ALTER TABLE opt_cache_s2.t2 DROP CONSTRAINT t_pkey, ADD PRIMARY KEY (b);
SELECT status FROM vigil.optimistic_update('opt_cache_s2.t2', '{"a": 1}', 3, '{"b": 4}');
\echo :LAST_ERROR_SQLSTATE
SELECT status FROM vigil.optimistic_update('opt_cache_s2.t2', '{"b": 3}', 3, '{"a": 5}');
SELECT * FROM opt_cache_s2.t2;
DROP SCHEMA opt_cache_s2 CASCADE;

-- The caller's privileges apply.
CREATE ROLE regress_vigil_optimistic_reader;
GRANT USAGE ON SCHEMA vigil TO regress_vigil_optimistic_reader;
GRANT SELECT ON opt_accounts TO regress_vigil_optimistic_reader;
SET ROLE regress_vigil_optimistic_reader;
SELECT * FROM vigil.optimistic_update('opt_accounts', '{"id": 1}', 4, '{"balance": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.optimistic_delete('opt_accounts', '{"id": 1}', 4);
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.enable_versioning('opt_accounts');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.enable_versioning('opt_accounts', 'rev');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.disable_versioning('opt_accounts');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE ALL ON opt_accounts FROM regress_vigil_optimistic_reader;
REVOKE USAGE ON SCHEMA vigil FROM regress_vigil_optimistic_reader;
DROP ROLE regress_vigil_optimistic_reader;

-- Every table is intact.
SELECT id, owner, balance, version FROM opt_accounts ORDER BY id;
SELECT count(*) AS tables_left FROM pg_class
 WHERE relname IN ('opt_accounts', 'opt_int_versioned', 'opt_text_versioned', 'opt_nullable_versioned', 'opt_no_pk') AND relkind = 'r';
DROP VIEW opt_accounts_view;
DROP TABLE opt_accounts, opt_int_versioned, opt_text_versioned, opt_nullable_versioned, opt_no_pk;
