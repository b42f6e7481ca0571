/*
 * optimistic.cpp — lost-update protection: a version column checked and bumped by a C++ row
 * trigger, and optimistic_update / optimistic_delete, which build their statements from quoted
 * identifiers and bound parameters only.
 */
#include "guard.hpp"
#include "relation.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
}

#include <algorithm>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

/* The trigger enable_versioning installs; optimistic_update looks for it by this name. */
constexpr const char *versioning_trigger_name = "vigil_versioning";

/* Whether a version column of this type is supported: smallint, integer, bigint. */
bool is_integer_type(Oid type) {
    return type == INT2OID || type == INT4OID || type == INT8OID;
}

/* The largest value a version column of this integer type holds. */
int64 integer_type_max(Oid type) {
    return type == INT2OID ? PG_INT16_MAX : type == INT4OID ? PG_INT32_MAX : PG_INT64_MAX;
}

/* The value of an integer datum of one of those types. */
int64 integer_datum_value(Datum d, Oid type) {
    return type == INT2OID ? DatumGetInt16(d) : type == INT4OID ? DatumGetInt32(d) : DatumGetInt64(d);
}

/* An integer datum of one of those types (v is known to fit). */
Datum integer_datum(int64 v, Oid type) {
    return type == INT2OID   ? Int16GetDatum(static_cast<int16>(v))
           : type == INT4OID ? Int32GetDatum(static_cast<int32>(v))
                             : Int64GetDatum(v);
}

/* An identifier quoted for SQL when it needs to be. */
std::string quote_ident(const std::string &name) {
    return vigil::pg_call([&] { return quote_identifier(name.c_str()); });
}

/* "schema"."table" of a relation, quoted. */
std::string qualified_name(Relation rel) {
    return vigil::pg_call([&] {
        return quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
                                          RelationGetRelationName(rel));
    });
}

/* A table as error messages name it: "schema.table". */
std::string table_label(Relation rel) {
    const char *nsp = vigil::pg_call([&] { return get_namespace_name(RelationGetNamespace(rel)); });
    return "\"" + std::string(nsp) + "." + RelationGetRelationName(rel) + "\"";
}

/* Refuses anything but a table or a partitioned table. */
void require_table(Relation rel) {
    const char kind = rel->rd_rel->relkind;
    if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
        throw vigil::Error(ERRCODE_WRONG_OBJECT_TYPE, table_label(rel) + " is not a table", "",
                           "Versioning and optimistic updates work on tables and partitioned tables.");
}

struct Column {
    AttrNumber attnum;
    Oid type;
    int32 typmod;
    std::string name;
};

/* A user column by its exact name; nullopt when there is none (dropped and system columns excluded). */
std::optional<Column> find_column(Relation rel, const std::string &name) {
    const TupleDesc desc = RelationGetDescr(rel);
    for (int i = 0; i < desc->natts; i++) {
        const Form_pg_attribute att = TupleDescAttr(desc, i);
        if (!att->attisdropped && name == NameStr(att->attname))
            return Column{att->attnum, att->atttypid, att->atttypmod, name};
    }
    return std::nullopt;
}

/* The 42703 error for a column name that the table lacks; what says which argument named it. */
vigil::Error unknown_column(Relation rel, const std::string &name, const char *what) {
    return vigil::Error(ERRCODE_UNDEFINED_COLUMN,
                        std::string(what) + " column \"" + name + "\" does not exist in table " +
                            table_label(rel),
                        "", "Column names are case-sensitive and must match exactly.");
}

/* The version column: it must exist and be an integer. */
Column version_column(Relation rel, const std::string &name) {
    const auto col = find_column(rel, name);
    if (!col)
        throw unknown_column(rel, name, "version");
    if (!is_integer_type(col->type))
        throw vigil::Error(ERRCODE_DATATYPE_MISMATCH,
                           "version column \"" + name + "\" of table " + table_label(rel) +
                               " must be smallint, integer or bigint",
                           "", "Use a bigint column, or let vigil.enable_versioning add one.");
    return *col;
}

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
 * SPI
 */

/* An SPI connection, finished explicitly on success (on error, transaction abort cleans up). */
class Spi {
  public:
    Spi() {
        vigil::pg_call([] { SPI_connect(); });
    }
    void finish() const {
        vigil::pg_call([] { SPI_finish(); });
    }
};

/* Runs a utility statement composed of quoted identifiers and literals. */
void run_utility(const std::string &sql) {
    vigil::pg_call([&] { (void)SPI_execute(sql.c_str(), false, 0); });
}

/*
 * Prepared statements of optimistic_update / optimistic_delete, kept for the session. The key
 * is the statement text plus its parameter types; the plan cache re-plans after DDL, and
 * privileges are checked at every execution.
 */
SPIPlanPtr cached_plan(const std::string &sql, const std::vector<Oid> &types) {
    static std::unordered_map<std::string, SPIPlanPtr> plans;
    constexpr size_t max_plans = 256;
    std::string key = sql;
    for (const Oid t : types)
        key += "|" + std::to_string(t);
    if (const auto it = plans.find(key); it != plans.end())
        return it->second;
    if (plans.size() >= max_plans) {
        for (auto &entry : plans)
            vigil::pg_call([&] { SPI_freeplan(entry.second); });
        plans.clear();
    }
    SPIPlanPtr plan = vigil::pg_call([&] {
        SPIPlanPtr p =
            SPI_prepare(sql.c_str(), static_cast<int>(types.size()), const_cast<Oid *>(types.data()));
        if (p == nullptr)
            elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
        if (SPI_keepplan(p) != 0)
            elog(ERROR, "SPI_keepplan failed");
        return p;
    });
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
uint64 execute(const std::string &sql, Params &p) {
    SPIPlanPtr plan = cached_plan(sql, p.types);
    return vigil::pg_call([&] {
        const int rc = SPI_execute_plan(plan, p.values.data(), p.nulls.data(), false, 0);
        if (rc < 0)
            elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
        return SPI_processed;
    });
}

/* The first column of the first result row as bigint (the statements return "v"::int8). */
int64 first_int8() {
    return vigil::pg_call([] {
        bool isnull = false;
        const Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
        return isnull ? int64{0} : DatumGetInt64(d);
    });
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
            "invalid value for column \"" + col.name + "\" of table " + table_label(rel) +
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
                           "invalid value for column \"" + col.name + "\" of table " + table_label(rel),
                           std::string(e.what()) + ".", "Pass a value of the column's type.");
    }
}

/* ---------------------------------------------------------------------------------------------
 * The primary key
 */

struct KeyColumn {
    Column column;
    std::string equals; /* the btree equality operator, OPERATOR(schema.op) */
};

/* The primary-key columns of a table, in key order, with their equality operators. */
std::vector<KeyColumn> primary_key(Relation rel) {
    const Oid index_oid = vigil::pg_call([&] { return RelationGetPrimaryKeyIndex(rel); });
    if (!OidIsValid(index_oid))
        throw vigil::Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                           "table " + table_label(rel) + " has no primary key", "",
                           "Optimistic updates address one row by its primary key; add one.");
    vigil::OpenRelation index(index_oid);
    const Relation irel = index.get();
    std::vector<KeyColumn> key;
    for (int i = 0; i < irel->rd_index->indnkeyatts; i++) {
        const AttrNumber attnum = irel->rd_index->indkey.values[i];
        const Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
        const Oid family = irel->rd_opfamily[i];
        const Oid intype = irel->rd_opcintype[i];
        const char *op = vigil::pg_call([&] {
            const Oid opr = get_opfamily_member(family, intype, intype, BTEqualStrategyNumber);
            if (!OidIsValid(opr))
                elog(ERROR, "no equality operator for primary-key column %d", i + 1);
            HeapTuple tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opr));
            if (!HeapTupleIsValid(tup))
                elog(ERROR, "cache lookup failed for operator %u", opr);
            const Form_pg_operator form = reinterpret_cast<Form_pg_operator>(GETSTRUCT(tup));
            /* Operator names are symbols, never identifiers, so only the schema is quoted. */
            char *s = psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(form->oprnamespace)),
                               NameStr(form->oprname));
            ReleaseSysCache(tup);
            return s;
        });
        key.push_back({Column{attnum, att->atttypid, att->atttypmod, NameStr(att->attname)}, op});
    }
    return key;
}

/* The primary key, or nothing for a table without one. */
std::vector<KeyColumn> primary_key_if_any(Relation rel) {
    if (!OidIsValid(vigil::pg_call([&] { return RelationGetPrimaryKeyIndex(rel); })))
        return {};
    return primary_key(rel);
}

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
                               table_label(rel),
                           "", "The key must name exactly the primary-key columns.");
    }
    std::string where;
    for (const KeyColumn &k : pk) {
        const auto f = std::find_if(fields.begin(), fields.end(),
                                    [&](const JsonField &jf) { return jf.column == k.column.name; });
        if (f == fields.end())
            throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                               "key is missing primary-key column \"" + k.column.name + "\" of table " +
                                   table_label(rel),
                               "", "The key must name exactly the primary-key columns.");
        bool isnull = false;
        const Datum d = column_value(rel, k.column, *f, isnull);
        if (isnull)
            throw vigil::Error(ERRCODE_NULL_VALUE_NOT_ALLOWED,
                               "key column \"" + k.column.name + "\" must not be null");
        if (!where.empty())
            where += " AND ";
        where += quote_ident(k.column.name) + " " + k.equals + " " + params.add(k.column.type, d, false);
    }
    return where;
}

/* Raises 22004 when argument argno is NULL. */
void require_not_null(FunctionCallInfo fcinfo, int argno, const char *what) {
    if (PG_ARGISNULL(argno))
        throw vigil::Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(what) + " must not be null");
}

/* Refuses a version column that is part of the primary key: bumping it would move the row. */
void require_not_key(Relation rel, const std::vector<KeyColumn> &pk, const Column &ver) {
    for (const KeyColumn &k : pk)
        if (k.column.attnum == ver.attnum)
            throw vigil::Error(
                ERRCODE_INVALID_PARAMETER_VALUE,
                "version column \"" + ver.name + "\" of table " + table_label(rel) +
                    " is part of its primary key",
                "", "Use a separate version column, such as the one vigil.enable_versioning adds.");
}

/* A name argument as a string. */
std::string name_arg(FunctionCallInfo fcinfo, int argno) {
    return NameStr(*PG_GETARG_NAME(argno));
}

/* The function's blessed result descriptor, built once per session (a statement's fn_extra
 * would not outlive the statement, and each call is usually a statement of its own). */
TupleDesc result_desc(FunctionCallInfo fcinfo) {
    static std::unordered_map<Oid, TupleDesc> descs;
    const Oid fn = fcinfo->flinfo->fn_oid;
    if (const auto it = descs.find(fn); it != descs.end())
        return it->second;
    const TupleDesc blessed = vigil::pg_call([&] {
        TupleDesc desc = nullptr;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            elog(ERROR, "return type must be a row type");
        const MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        TupleDesc copy = BlessTupleDesc(CreateTupleDescCopy(desc));
        MemoryContextSwitchTo(old);
        return copy;
    });
    descs.emplace(fn, blessed);
    return blessed;
}

/* The (status, new_version, current_version) or (status, current_version) result row. */
Datum result_row(FunctionCallInfo fcinfo, const char *status, std::vector<std::optional<int64>> versions) {
    const TupleDesc desc = result_desc(fcinfo);
    return vigil::pg_call([&] {
        Datum values[3];
        bool nulls[3] = {false, false, false};
        values[0] = CStringGetTextDatum(status);
        for (size_t i = 0; i < versions.size() && i < 2; i++) {
            nulls[i + 1] = !versions[i].has_value();
            values[i + 1] = versions[i] ? Int64GetDatum(*versions[i]) : Datum(0);
        }
        return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
    });
}

/* The current version of the row with this key (a fresh read), nullopt when there is none. */
std::optional<int64> current_version(Relation rel, const std::string &table, const std::vector<KeyColumn> &pk,
                                     Jsonb *key_arg, const Column &ver) {
    Params key_params;
    const std::string where = key_condition(rel, pk, key_arg, key_params);
    const std::string sql =
        "SELECT " + quote_ident(ver.name) + "::pg_catalog.int8 FROM " + table + " WHERE " + where;
    if (execute(sql, key_params) == 0)
        return std::nullopt;
    return first_int8();
}

/* ONLY for plain tables (a key is unique in the table itself, not in inheritance children). */
std::string target(Relation rel) {
    return (rel->rd_rel->relkind == RELKIND_RELATION ? "ONLY " : "") + qualified_name(rel);
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
        : open(relid), info((require_table(open.get()), table_info(open.get()))),
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
    Spi spi;
    VersionedTable target;
    const Relation rel = target.open.get();
    const std::string &table = target.info.target;
    const std::vector<KeyColumn> &pk = target.info.pk;
    const Column &ver = target.ver;

    OptimisticCall(FunctionCallInfo fcinfo, int version_arg)
        : expected((require_not_null(fcinfo, 0, "rel"), require_not_null(fcinfo, 1, "key"),
                    require_not_null(fcinfo, 2, "expected_version"),
                    require_not_null(fcinfo, version_arg, "version_column"), PG_GETARG_INT64(2))),
          key(vigil::pg_call([&] { return PG_GETARG_JSONB_P(1); })),
          target(PG_GETARG_OID(0), name_arg(fcinfo, version_arg)) {}
};

/*
 * Where a tuple stores its integer column attnum: a byte offset into its data, or -1 when the
 * column is null there or the tuple was stored before the column existed (fewer attributes).
 * Walks the attributes before it once, or uses the cached offset when no varlena or null
 * precedes it.
 */
int32 integer_offset(HeapTuple tuple, TupleDesc desc, AttrNumber attnum) {
    const HeapTupleHeader header = tuple->t_data;
    const bool hasnulls = HeapTupleHasNulls(tuple);
    if (HeapTupleHeaderGetNatts(header) < attnum || (hasnulls && att_isnull(attnum - 1, header->t_bits)))
        return -1;
    const Form_pg_attribute target_att = TupleDescAttr(desc, attnum - 1);
    if (!hasnulls && target_att->attcacheoff >= 0)
        return target_att->attcacheoff;
    const char *data = reinterpret_cast<const char *>(header) + header->t_hoff;
    uint32 off = 0;
    for (int i = 0; i < attnum - 1; i++) {
        const Form_pg_attribute att = TupleDescAttr(desc, i);
        if (hasnulls && att_isnull(i, header->t_bits))
            continue;
        off = att_align_pointer(off, att->attalign, att->attlen, data + off);
        off = att_addlength_pointer(off, att->attlen, data + off);
    }
    return static_cast<int32>(att_align_nominal(off, target_att->attalign));
}

/* The start of a tuple's attribute data. */
char *tuple_data(HeapTuple tuple) {
    return reinterpret_cast<char *>(tuple->t_data) + tuple->t_data->t_hoff;
}

int64 read_integer(const char *field, Oid type) {
    if (type == INT2OID) {
        int16 v;
        memcpy(&v, field, sizeof v);
        return v;
    }
    if (type == INT4OID) {
        int32 v;
        memcpy(&v, field, sizeof v);
        return v;
    }
    int64 v;
    memcpy(&v, field, sizeof v);
    return v;
}

/* Stores value (known to fit the type) in an integer field. */
void write_integer(char *field, Oid type, int64 value) {
    if (type == INT2OID) {
        const int16 v = static_cast<int16>(value);
        memcpy(field, &v, sizeof v);
    } else if (type == INT4OID) {
        const int32 v = static_cast<int32>(value);
        memcpy(field, &v, sizeof v);
    } else {
        memcpy(field, &value, sizeof value);
    }
}

/*
 * A copy of tuple whose integer column attnum holds value. The copy is patched in place, which
 * costs a memcpy instead of deforming and re-forming the row; a tuple that stores the column as
 * null or predates it is rebuilt the general way.
 */
HeapTuple with_version(HeapTuple tuple, TupleDesc desc, AttrNumber attnum, Oid type, int64 value) {
    return vigil::pg_call([&] {
        const int32 off = integer_offset(tuple, desc, attnum);
        if (off < 0) {
            Datum d = integer_datum(value, type);
            bool isnull = false;
            int column = attnum;
            return heap_modify_tuple_by_cols(tuple, desc, 1, &column, &d, &isnull);
        }
        HeapTuple copy = heap_copytuple(tuple);
        write_integer(tuple_data(copy) + off, type, value);
        return copy;
    });
}

} // namespace

/*
 * vigil.versioning_trigger() — BEFORE UPDATE FOR EACH ROW, argument: the version column.
 * A statement that leaves the version alone or sets it to the row's current version gets the
 * version bumped by one; one that sets any other value is a lost update and fails with 40001.
 */
VIGIL_FUNCTION(vigil_versioning_trigger) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        throw vigil::Error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                           "vigil.versioning_trigger() must be called as a trigger", "",
                           "Install it with vigil.enable_versioning().");
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
        !TRIGGER_FIRED_BY_UPDATE(td->tg_event) || td->tg_trigger->tgnargs != 1)
        throw vigil::Error(
            ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            "vigil.versioning_trigger() must fire BEFORE UPDATE FOR EACH ROW with one argument", "",
            "Install it with vigil.enable_versioning().");
    const Relation rel = td->tg_relation;
    const TupleDesc desc = RelationGetDescr(rel);

    /* The column's position is looked up once per statement and relation (fn_extra lives as
     * long as the statement's trigger state). */
    struct Cached {
        Oid relid;
        AttrNumber attnum;
        Oid type;
    };
    auto *cached = static_cast<Cached *>(fcinfo->flinfo->fn_extra);
    if (cached == nullptr || cached->relid != RelationGetRelid(rel)) {
        const Column col = version_column(rel, td->tg_trigger->tgargs[0]);
        cached = vigil::pg_call([&] {
            return static_cast<Cached *>(MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(Cached)));
        });
        *cached = Cached{RelationGetRelid(rel), col.attnum, col.type};
        fcinfo->flinfo->fn_extra = cached;
    }

    const auto require_room = [&](int64 version) {
        if (version >= integer_type_max(cached->type))
            throw vigil::Error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                               "version column \"" + std::string(td->tg_trigger->tgargs[0]) + "\" of table " +
                                   table_label(rel) + " is out of range");
    };

    /* The common case: the statement does not assign the version column, so the new row carries
     * the old row's version (or what a BEFORE trigger firing earlier put there) and there is no
     * conflict to look for. Only the new row is read, with one pass over the attributes before
     * the column, and a copy of it is patched. */
    if (!bms_is_member(cached->attnum - FirstLowInvalidHeapAttributeNumber, td->tg_updatedcols)) {
        const int32 off = integer_offset(td->tg_newtuple, desc, cached->attnum);
        if (off >= 0) {
            const int64 version = read_integer(tuple_data(td->tg_newtuple) + off, cached->type);
            require_room(version);
            HeapTuple copy = vigil::pg_call([&] { return heap_copytuple(td->tg_newtuple); });
            write_integer(tuple_data(copy) + off, cached->type, version + 1);
            return PointerGetDatum(copy);
        }
    }

    bool old_null = false;
    bool new_null = false;
    const Datum old_d = heap_getattr(td->tg_trigtuple, cached->attnum, desc, &old_null);
    const Datum new_d = heap_getattr(td->tg_newtuple, cached->attnum, desc, &new_null);
    const int64 old_v = old_null ? 0 : integer_datum_value(old_d, cached->type);
    const int64 new_v = new_null ? 0 : integer_datum_value(new_d, cached->type);
    if (new_null && !old_null)
        throw vigil::Error(ERRCODE_NOT_NULL_VIOLATION,
                           "version column \"" + std::string(td->tg_trigger->tgargs[0]) + "\" of table " +
                               table_label(rel) + " must not be set to null");
    if (new_null != old_null || new_v != old_v)
        throw vigil::Error(ERRCODE_T_R_SERIALIZATION_FAILURE, "version conflict on table " + table_label(rel),
                           "The statement expected version " +
                               (new_null ? std::string("NULL") : std::to_string(new_v)) +
                               " but the row is at version " +
                               (old_null ? std::string("NULL") : std::to_string(old_v)) + ".",
                           "Another transaction changed the row since it was read: read it again and retry.");
    require_room(old_v);
    return PointerGetDatum(with_version(td->tg_newtuple, desc, cached->attnum, cached->type, old_v + 1));
}

/* vigil.enable_versioning(rel regclass, version_column name) → void */
VIGIL_FUNCTION(vigil_enable_versioning) {
    require_not_null(fcinfo, 0, "rel");
    require_not_null(fcinfo, 1, "version_column");
    const std::string ver = name_arg(fcinfo, 1);
    std::string table;
    bool add_column = false;
    {
        vigil::OpenRelation rel(PG_GETARG_OID(0));
        require_table(rel.get());
        table = qualified_name(rel.get());
        if (const auto col = find_column(rel.get(), ver)) {
            require_not_key(rel.get(), primary_key_if_any(rel.get()), version_column(rel.get(), ver));
            const Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel.get()), col->attnum - 1);
            if (!att->attnotnull)
                throw vigil::Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                                   "version column \"" + ver + "\" of table " + table_label(rel.get()) +
                                       " must be NOT NULL",
                                   "",
                                   "Fill it and run ALTER TABLE " + table + " ALTER COLUMN " +
                                       quote_ident(ver) + " SET NOT NULL first.");
        } else {
            add_column = true;
        }
    }
    Spi spi;
    if (add_column)
        run_utility("ALTER TABLE " + table + " ADD COLUMN " + quote_ident(ver) +
                    " pg_catalog.int8 NOT NULL DEFAULT 1");
    const std::string arg = vigil::pg_call([&] { return quote_literal_cstr(ver.c_str()); });
    run_utility(std::string("CREATE OR REPLACE TRIGGER ") + versioning_trigger_name + " BEFORE UPDATE ON " +
                table + " FOR EACH ROW EXECUTE FUNCTION vigil.versioning_trigger(" + arg + ")");
    spi.finish();
    PG_RETURN_VOID();
}

/* vigil.disable_versioning(rel regclass) → void; the version column stays. */
VIGIL_FUNCTION(vigil_disable_versioning) {
    require_not_null(fcinfo, 0, "rel");
    std::string table;
    {
        vigil::OpenRelation rel(PG_GETARG_OID(0));
        require_table(rel.get());
        table = qualified_name(rel.get());
    }
    Spi spi;
    run_utility(std::string("DROP TRIGGER IF EXISTS ") + versioning_trigger_name + " ON " + table);
    spi.finish();
    PG_RETURN_VOID();
}

/*
 * vigil.optimistic_update(rel regclass, key jsonb, expected_version bigint, changes jsonb,
 *                         version_column name) → (status text, new_version bigint, current_version bigint)
 * UPDATE rel SET <changes>, version = version + 1 WHERE <key> AND version = expected, then, when
 * no row matched, a fresh read tells conflict (row exists) from not_found.
 */
VIGIL_FUNCTION(vigil_optimistic_update) {
    require_not_null(fcinfo, 3, "changes");
    const OptimisticCall call(fcinfo, 4);
    const Relation rel = call.rel;
    const std::vector<KeyColumn> &pk = call.pk;
    const Column &ver = call.ver;
    Jsonb *changes_arg = vigil::pg_call([&] { return PG_GETARG_JSONB_P(3); });

    Params params;
    std::string set;
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
        bool isnull = false;
        const Datum d = column_value(rel, *col, f, isnull);
        set += quote_ident(col->name) + " = " + params.add(col->type, d, isnull) + ", ";
    }
    const std::string v = quote_ident(ver.name);
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
    if (execute(sql, params) == 1) {
        new_version = current = first_int8();
    } else {
        current = current_version(rel, call.table, pk, call.key, ver);
        status = current ? "conflict" : "not_found";
    }
    call.spi.finish();
    return result_row(fcinfo, status, {new_version, current});
}

/*
 * vigil.optimistic_delete(rel regclass, key jsonb, expected_version bigint, version_column name)
 *   → (status text, current_version bigint); status is deleted, conflict or not_found.
 */
VIGIL_FUNCTION(vigil_optimistic_delete) {
    const OptimisticCall call(fcinfo, 3);

    Params params;
    const std::string where = key_condition(call.rel, call.pk, call.key, params);
    Params with_version = params;
    const std::string v = quote_ident(call.ver.name);
    const std::string sql = "DELETE FROM " + call.table + " WHERE " + where + " AND " + v +
                            " OPERATOR(pg_catalog.=) " +
                            with_version.add(INT8OID, Int64GetDatum(call.expected), false);
    const char *status = "deleted";
    std::optional<int64> current;
    if (execute(sql, with_version) != 1) {
        current = current_version(call.rel, call.table, call.pk, call.key, call.ver);
        status = current ? "conflict" : "not_found";
    }
    call.spi.finish();
    return result_row(fcinfo, status, {current});
}
