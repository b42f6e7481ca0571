/*
 * optimistic_update.cpp — vigil.optimistic_update() and vigil.optimistic_delete(): one row,
 * addressed by its primary key, changed only while its version is the one the caller read. The
 * statements are built from quoted identifiers and bound parameters only.
 */
#include "arguments.hpp"
#include "guard.hpp"
#include "optimistic_table.hpp"
#include "relation.hpp"
#include "result_row.hpp"
#include "spi.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

#include <algorithm>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using vigil::optimistic::Column;
using vigil::optimistic::find_column;
using vigil::optimistic::KeyColumn;
using vigil::optimistic::primary_key;
using vigil::optimistic::require_not_key;
using vigil::optimistic::require_table;
using vigil::optimistic::unknown_column;
using vigil::optimistic::version_column;
using vigil::optimistic::versioning_trigger_name;

/* Whether the versioning trigger on this column fires for this session's replication role. */
bool versioning_trigger_fires(Relation rel, const std::string &version_col) {
    const TriggerDesc *td = rel->trigdesc;
    if (!td)
        return false;
    for (int i = 0; i < td->numtriggers; i++) {
        const Trigger &t = td->triggers[i];
        if (std::string(t.tgname) != versioning_trigger_name || t.tgnargs != 1 || version_col != t.tgargs[0])
            continue;
        if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
            return t.tgenabled == TRIGGER_FIRES_ON_REPLICA || t.tgenabled == TRIGGER_FIRES_ALWAYS;
        return t.tgenabled == TRIGGER_FIRES_ON_ORIGIN || t.tgenabled == TRIGGER_FIRES_ALWAYS;
    }
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * Privileges: checked before the statement runs, so that a refusal says which grant is missing
 * (the statement would be refused anyway, naming only the table, with the statement as context).
 */

/* Whether the calling role holds mode on the column, through the table or the column itself. */
bool may(Relation rel, AttrNumber attnum, AclMode mode) {
    const Oid relid = RelationGetRelid(rel);
    return vigil::pg_call([&] {
        return pg_class_aclcheck(relid, GetUserId(), mode) == ACLCHECK_OK ||
               pg_attribute_aclcheck(relid, attnum, GetUserId(), mode) == ACLCHECK_OK;
    });
}

/* The 42501 error for a statement on rel the calling role may not run. */
vigil::Error permission_denied(Relation rel, const char *action, const char *needs, const char *grant) {
    const std::string role = vigil::current_role_ident();
    return vigil::Error(
        ERRCODE_INSUFFICIENT_PRIVILEGE,
        std::string("permission denied to ") + action + " table " + vigil::qualified_relation_label(rel),
        needs,
        std::string("GRANT ") + grant + " ON " + vigil::quoted_relation_name(rel) + " TO " + role + ";");
}

/* SELECT on every primary-key column and the version column. */
bool may_read_key_and_version(Relation rel, const std::vector<KeyColumn> &pk, const Column &ver) {
    if (!may(rel, ver.attnum, ACL_SELECT))
        return false;
    return std::all_of(pk.begin(), pk.end(),
                       [&](const KeyColumn &k) { return may(rel, k.column.attnum, ACL_SELECT); });
}

/* ---------------------------------------------------------------------------------------------
 * Prepared statements and their parameters
 */

/*
 * Prepared statements of optimistic_update / optimistic_delete, kept for the session. The key
 * is the statement text plus its parameter types; the plan cache re-plans after DDL, and
 * privileges are checked at every execution.
 */
SPIPlanPtr cached_plan(vigil::SpiConnection &spi, const std::string &sql, const std::vector<Oid> &types) {
    static std::unordered_map<std::string, SPIPlanPtr> plans;
    constexpr size_t max_plans = 256;
    std::string key = sql;
    for (const Oid t : types)
        key += "|" + std::to_string(t);
    if (const auto it = plans.find(key); it != plans.end())
        return it->second;
    if (plans.size() >= max_plans) {
        for (auto &entry : plans)
            vigil::free_kept_plan(entry.second);
        plans.clear();
    }
    SPIPlanPtr plan = spi.prepare_kept(sql, types);
    plans.emplace(std::move(key), plan);
    return plan;
}

/* Bound parameters of one statement. */
struct Params {
    std::vector<Oid> types;
    std::vector<Datum> values;
    std::vector<char> nulls;

    /* Adds a parameter and returns its placeholder ($n). */
    std::string add(Oid type, Datum value, bool isnull) {
        types.push_back(type);
        values.push_back(value);
        nulls.push_back(isnull ? 'n' : ' ');
        return "$" + std::to_string(types.size());
    }
};

/* Executes a cached plan; returns the number of rows processed. */
uint64 execute(vigil::SpiConnection &spi, const std::string &sql, Params &p) {
    return spi.execute_plan(cached_plan(spi, sql, p.types), p.values.data(), p.nulls.data(), false);
}

/* The first column of the first result row as bigint (the statements return "v"::int8). */
int64 first_int8(const vigil::SpiConnection &spi) {
    return spi.bigint(0, 1).value_or(0);
}

/* ---------------------------------------------------------------------------------------------
 * JSON arguments
 */

/* One "column": value pair of a JSON object; text is nullopt for JSON null. */
struct JsonField {
    std::string column;
    std::optional<std::string> text; /* the value as the column type's text input */
    bool is_container;               /* an object or array */
    JsonbValue value;                /* points into the argument, which outlives the call */
};

/* A JSON value as JSON text. */
std::string jsonb_value_as_json(JsonbValue *v) {
    return vigil::pg_call([&] {
        Jsonb *jb = JsonbValueToJsonb(v);
        return JsonbToCString(nullptr, &jb->root, VARSIZE(jb));
    });
}

/* The fields of a jsonb object argument; what names the argument in errors. */
std::vector<JsonField> object_fields(Jsonb *jb, const char *what) {
    if (!JB_ROOT_IS_OBJECT(jb))
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE, std::string(what) + " must be a JSON object", "",
                           "Pass an object such as '{\"id\": 42}'.");
    std::vector<JsonField> fields;
    JsonbIterator *it = vigil::pg_call([&] { return JsonbIteratorInit(&jb->root); });
    JsonbValue v;
    for (;;) {
        const JsonbIteratorToken tok = vigil::pg_call([&] { return JsonbIteratorNext(&it, &v, true); });
        if (tok == WJB_DONE)
            break;
        if (tok == WJB_KEY) {
            fields.push_back(
                {std::string(v.val.string.val, v.val.string.len), std::nullopt, false, JsonbValue{}});
        } else if (tok == WJB_VALUE) {
            JsonField &f = fields.back();
            f.value = v;
            switch (v.type) {
            case jbvNull:
                break;
            case jbvString:
                f.text = std::string(v.val.string.val, v.val.string.len);
                break;
            case jbvBool:
                f.text = v.val.boolean ? "true" : "false";
                break;
            case jbvNumeric:
                f.text = vigil::pg_call([&] {
                    return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
                });
                break;
            default: /* jbvBinary: a nested object or array */
                f.is_container = true;
                f.text = jsonb_value_as_json(&v);
                break;
            }
        }
    }
    return fields;
}

/* A JSON value converted to a datum of the column's type, through the type's input function. */
Datum column_value(Relation rel, const Column &col, const JsonField &f, bool &isnull) {
    isnull = false;
    const bool json_column = col.type == JSONOID || col.type == JSONBOID;
    /* A json or jsonb column takes the value as JSON text, strings included. */
    JsonbValue value = f.value;
    std::optional<std::string> text =
        json_column && f.text ? std::optional<std::string>(jsonb_value_as_json(&value)) : f.text;
    if (!text) {
        isnull = true;
        return Datum(0);
    }
    if (f.is_container && !json_column)
        throw vigil::Error(
            ERRCODE_INVALID_TEXT_REPRESENTATION,
            "invalid value for column \"" + col.name + "\" of table " + vigil::qualified_relation_label(rel) +
                ": a JSON object or array",
            "Only json and jsonb columns take JSON objects and arrays.",
            "Pass the value as a string in the column type's text form, such as \"{1,2}\" for an array.");
    try {
        return vigil::pg_call([&] {
            Oid input = InvalidOid;
            Oid ioparam = InvalidOid;
            getTypeInputInfo(col.type, &input, &ioparam);
            return OidInputFunctionCall(input, const_cast<char *>(text->c_str()), ioparam, col.typmod);
        });
    } catch (const vigil::PgError &e) {
        throw vigil::Error(e.sqlstate(),
                           "invalid value for column \"" + col.name + "\" of table " +
                               vigil::qualified_relation_label(rel),
                           std::string(e.what()) + ".", "Pass a value of the column's type.");
    }
}

/* ---------------------------------------------------------------------------------------------
 * The row a statement addresses, and the table it is in
 */

/* The WHERE clause "k1" = $1 AND ... for the key argument, which must name exactly the key. */
std::string key_condition(Relation rel, const std::vector<KeyColumn> &pk, Jsonb *key_arg, Params &params) {
    const std::vector<JsonField> fields = object_fields(key_arg, "key");
    for (const JsonField &f : fields) {
        const bool in_key =
            std::any_of(pk.begin(), pk.end(), [&](const KeyColumn &k) { return k.column.name == f.column; });
        if (in_key)
            continue;
        if (!find_column(rel, f.column))
            throw unknown_column(rel, f.column, "key");
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                           "key column \"" + f.column + "\" is not part of the primary key of table " +
                               vigil::qualified_relation_label(rel),
                           "", "The key must name exactly the primary-key columns.");
    }
    std::string where;
    for (const KeyColumn &k : pk) {
        const auto f = std::find_if(fields.begin(), fields.end(),
                                    [&](const JsonField &jf) { return jf.column == k.column.name; });
        if (f == fields.end())
            throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                               "key is missing primary-key column \"" + k.column.name + "\" of table " +
                                   vigil::qualified_relation_label(rel),
                               "", "The key must name exactly the primary-key columns.");
        bool isnull = false;
        const Datum d = column_value(rel, k.column, *f, isnull);
        if (isnull)
            throw vigil::Error(ERRCODE_NULL_VALUE_NOT_ALLOWED,
                               "key column \"" + k.column.name + "\" must not be null");
        if (!where.empty())
            where += " AND ";
        where +=
            vigil::quote_ident(k.column.name) + " " + k.equals + " " + params.add(k.column.type, d, false);
    }
    return where;
}

/* The (status, new_version, current_version) or (status, current_version) result row. */
Datum status_row(FunctionCallInfo fcinfo, const char *status, std::vector<std::optional<int64>> versions) {
    Datum values[3];
    bool nulls[3] = {false, false, false};
    values[0] = vigil::text_datum(status);
    for (size_t i = 0; i < versions.size() && i < 2; i++) {
        nulls[i + 1] = !versions[i].has_value();
        values[i + 1] = versions[i] ? Int64GetDatum(*versions[i]) : Datum(0);
    }
    return vigil::result_row(fcinfo, values, nulls);
}

/* The current version of the row with this key (a fresh read), nullopt when there is none. */
std::optional<int64> current_version(vigil::SpiConnection &spi, Relation rel, const std::string &table,
                                     const std::vector<KeyColumn> &pk, Jsonb *key_arg, const Column &ver) {
    Params key_params;
    const std::string where = key_condition(rel, pk, key_arg, key_params);
    const std::string sql =
        "SELECT " + vigil::quote_ident(ver.name) + "::pg_catalog.int8 FROM " + table + " WHERE " + where;
    if (execute(spi, sql, key_params) == 0)
        return std::nullopt;
    return first_int8(spi);
}

/* ONLY for plain tables (a key is unique in the table itself, not in inheritance children). */
std::string target(Relation rel) {
    return (rel->rd_rel->relkind == RELKIND_RELATION ? "ONLY " : "") + vigil::quoted_relation_name(rel);
}

/* What optimistic_update and optimistic_delete need to know about a table. */
struct TableInfo {
    std::string target;
    std::vector<KeyColumn> pk;
};

/* Per-session cache of TableInfo, emptied for a table when its relcache entry is invalidated
 * (DDL on it or its indexes) and entirely when any schema changes (a rename changes names). */
std::unordered_map<Oid, TableInfo> &table_cache() {
    static std::unordered_map<Oid, TableInfo> cache;
    return cache;
}

/* Relcache invalidation callback: forgets one table, or all of them. */
void forget_table(Datum, Oid relid) {
    if (OidIsValid(relid))
        table_cache().erase(relid);
    else
        table_cache().clear();
}

/* Schema (pg_namespace) invalidation callback: forgets every table. */
void forget_all_tables(Datum, int, uint32) {
    table_cache().clear();
}

/* The table's target and primary key, from the cache when possible. Returned by value: an
 * invalidation may empty the cache while the caller still uses it. */
TableInfo table_info(Relation rel) {
    static bool callbacks_registered = false;
    if (!callbacks_registered) {
        vigil::pg_call([] {
            CacheRegisterRelcacheCallback(forget_table, Datum(0));
            CacheRegisterSyscacheCallback(NAMESPACEOID, forget_all_tables, Datum(0));
        });
        callbacks_registered = true;
    }
    auto &cache = table_cache();
    if (const auto it = cache.find(RelationGetRelid(rel)); it != cache.end())
        return it->second;
    TableInfo info{target(rel), primary_key(rel)};
    cache.emplace(RelationGetRelid(rel), info);
    return info;
}

/* The table an optimistic statement targets: opened, checked, its key and version column found. */
struct VersionedTable {
    vigil::OpenRelation open;
    TableInfo info;
    Column ver;

    VersionedTable(Oid relid, const std::string &version_name)
        : open(relid, "table"), info((require_table(open.get()), table_info(open.get()))),
          ver(version_column(open.get(), version_name)) {
        require_not_key(open.get(), info.pk, ver);
    }
};

/*
 * What optimistic_update and optimistic_delete start from, in this order: the arguments they
 * share (rel, key, expected_version, and version_column at position version_arg; none may be
 * NULL), a connection to SPI, and the table, opened and checked.
 */
struct OptimisticCall {
    int64 expected;
    Jsonb *key;
    vigil::SpiConnection spi;
    VersionedTable target;
    const Relation rel = target.open.get();
    const std::string &table = target.info.target;
    const std::vector<KeyColumn> &pk = target.info.pk;
    const Column &ver = target.ver;

    OptimisticCall(FunctionCallInfo fcinfo, int version_arg)
        : expected((vigil::require_not_null(fcinfo, 0, "rel"), vigil::require_not_null(fcinfo, 1, "key"),
                    vigil::require_not_null(fcinfo, 2, "expected_version"),
                    vigil::require_not_null(fcinfo, version_arg, "version_column", vigil::Default::exists),
                    PG_GETARG_INT64(2))),
          key(vigil::pg_call([&] { return PG_GETARG_JSONB_P(1); })),
          target(PG_GETARG_OID(0), vigil::name_arg(fcinfo, version_arg)) {}
};

} // namespace

/*
 * vigil.optimistic_update(rel regclass, key jsonb, expected_version bigint, changes jsonb,
 *                         version_column name) → (status text, new_version bigint, current_version bigint)
 * UPDATE rel SET <changes>, version = version + 1 WHERE <key> AND version = expected, then, when
 * no row matched, a fresh read tells conflict (row exists) from not_found.
 */
VIGIL_FUNCTION(vigil_optimistic_update) {
    vigil::require_not_null(fcinfo, 3, "changes");
    OptimisticCall call(fcinfo, 4);
    const Relation rel = call.rel;
    const std::vector<KeyColumn> &pk = call.pk;
    const Column &ver = call.ver;
    Jsonb *changes_arg = vigil::pg_call([&] { return PG_GETARG_JSONB_P(3); });

    Params params;
    std::string set;
    bool may_update = may_read_key_and_version(rel, pk, ver) && may(rel, ver.attnum, ACL_UPDATE);
    for (const JsonField &f : object_fields(changes_arg, "changes")) {
        const auto col = find_column(rel, f.column);
        if (!col)
            throw unknown_column(rel, f.column, "changed");
        if (col->attnum == ver.attnum)
            throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                               "changes must not set the version column \"" + ver.name + "\"", "",
                               "Pass the version you read as expected_version; the update bumps it.");
        if (std::any_of(pk.begin(), pk.end(),
                        [&](const KeyColumn &k) { return k.column.attnum == col->attnum; }))
            throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                               "changes must not set primary-key column \"" + col->name + "\"", "",
                               "Delete the row and insert it under its new key instead.");
        may_update = may_update && may(rel, col->attnum, ACL_UPDATE);
        bool isnull = false;
        const Datum d = column_value(rel, *col, f, isnull);
        set += vigil::quote_ident(col->name) + " = " + params.add(col->type, d, isnull) + ", ";
    }
    if (!may_update)
        throw permission_denied(
            rel, "update",
            "vigil.optimistic_update() needs SELECT on the key and version columns and UPDATE "
            "on the changed and version columns.",
            "SELECT, UPDATE");
    const std::string v = vigil::quote_ident(ver.name);
    const std::string expected_param = params.add(INT8OID, Int64GetDatum(call.expected), false);
    /* With the versioning trigger the statement names the version it read and the trigger bumps
     * it; without, the statement bumps it itself. */
    set += v + " = " +
           (versioning_trigger_fires(rel, ver.name) ? expected_param : v + " OPERATOR(pg_catalog.+) 1");

    const std::string where = key_condition(rel, pk, call.key, params);
    const std::string sql = "UPDATE " + call.table + " SET " + set + " WHERE " + where + " AND " + v +
                            " OPERATOR(pg_catalog.=) " + expected_param + " RETURNING " + v +
                            "::pg_catalog.int8";
    const char *status = "updated";
    std::optional<int64> new_version;
    std::optional<int64> current;
    if (execute(call.spi, sql, params) == 1) {
        new_version = current = first_int8(call.spi);
    } else {
        current = current_version(call.spi, rel, call.table, pk, call.key, ver);
        status = current ? "conflict" : "not_found";
    }
    return status_row(fcinfo, status, {new_version, current});
}

/*
 * vigil.optimistic_delete(rel regclass, key jsonb, expected_version bigint, version_column name)
 *   → (status text, current_version bigint); status is deleted, conflict or not_found.
 */
VIGIL_FUNCTION(vigil_optimistic_delete) {
    OptimisticCall call(fcinfo, 3);
    const Oid relid = RelationGetRelid(call.rel);
    if (!may_read_key_and_version(call.rel, call.pk, call.ver) ||
        vigil::pg_call([&] { return pg_class_aclcheck(relid, GetUserId(), ACL_DELETE); }) != ACLCHECK_OK)
        throw permission_denied(
            call.rel, "delete from",
            "vigil.optimistic_delete() needs DELETE on the table and SELECT on the key and "
            "version columns.",
            "SELECT, DELETE");

    Params params;
    const std::string where = key_condition(call.rel, call.pk, call.key, params);
    Params with_version = params;
    const std::string v = vigil::quote_ident(call.ver.name);
    const std::string sql = "DELETE FROM " + call.table + " WHERE " + where + " AND " + v +
                            " OPERATOR(pg_catalog.=) " +
                            with_version.add(INT8OID, Int64GetDatum(call.expected), false);
    const char *status = "deleted";
    std::optional<int64> current;
    if (execute(call.spi, sql, with_version) != 1) {
        current = current_version(call.spi, call.rel, call.table, call.pk, call.key, call.ver);
        status = current ? "conflict" : "not_found";
    }
    return status_row(fcinfo, status, {current});
}
