/*
 * optimistic_table.cpp — a table's version column and primary key (see optimistic_table.hpp).
 */
#include "optimistic_table.hpp"
#include "relation.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace vigil::optimistic {

namespace {

/* Whether a version column of this type is supported: smallint, integer, bigint. */
bool is_integer_type(Oid type) {
    return type == INT2OID || type == INT4OID || type == INT8OID;
}

} // namespace

void require_table(Relation rel) {
    const char kind = rel->rd_rel->relkind;
    if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
        throw vigil::Error(ERRCODE_WRONG_OBJECT_TYPE,
                           vigil::qualified_relation_label(rel) + " is not a table", "",
                           "Versioning and optimistic updates work on tables and partitioned tables.");
}

std::optional<Column> find_column(Relation rel, const std::string &name) {
    const TupleDesc desc = RelationGetDescr(rel);
    for (int i = 0; i < desc->natts; i++) {
        const Form_pg_attribute att = TupleDescAttr(desc, i);
        if (!att->attisdropped && name == NameStr(att->attname))
            return Column{att->attnum, att->atttypid, att->atttypmod, name};
    }
    return std::nullopt;
}

vigil::Error unknown_column(Relation rel, const std::string &name, const char *what) {
    return vigil::Error(ERRCODE_UNDEFINED_COLUMN,
                        std::string(what) + " column \"" + name + "\" does not exist in table " +
                            vigil::qualified_relation_label(rel),
                        "", "Column names are case-sensitive and must match exactly.");
}

Column version_column(Relation rel, const std::string &name) {
    const auto col = find_column(rel, name);
    if (!col)
        throw unknown_column(rel, name, "version");
    if (!is_integer_type(col->type))
        throw vigil::Error(ERRCODE_DATATYPE_MISMATCH,
                           "version column \"" + name + "\" of table " +
                               vigil::qualified_relation_label(rel) + " must be smallint, integer or bigint",
                           "", "Use a bigint column, or let vigil.enable_versioning add one.");
    return *col;
}

std::vector<KeyColumn> primary_key(Relation rel) {
    const Oid index_oid = vigil::pg_call([&] { return RelationGetPrimaryKeyIndex(rel); });
    if (!OidIsValid(index_oid))
        throw vigil::Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                           "table " + vigil::qualified_relation_label(rel) + " has no primary key", "",
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

std::vector<KeyColumn> primary_key_if_any(Relation rel) {
    if (!OidIsValid(vigil::pg_call([&] { return RelationGetPrimaryKeyIndex(rel); })))
        return {};
    return primary_key(rel);
}

void require_not_key(Relation rel, const std::vector<KeyColumn> &pk, const Column &ver) {
    for (const KeyColumn &k : pk)
        if (k.column.attnum == ver.attnum)
            throw vigil::Error(
                ERRCODE_INVALID_PARAMETER_VALUE,
                "version column \"" + ver.name + "\" of table " + vigil::qualified_relation_label(rel) +
                    " is part of its primary key",
                "", "Use a separate version column, such as the one vigil.enable_versioning adds.");
}

} // namespace vigil::optimistic
