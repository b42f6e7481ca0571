/*
 * relation.cpp — naming relations in messages and SQL text (see relation.hpp).
 */
#include "relation.hpp"

extern "C" {
#include "utils/lsyscache.h"
}

namespace vigil {

Error no_relation(Oid relid, const char *what) {
    const std::string w = what;
    return Error(ERRCODE_UNDEFINED_TABLE, "no " + w + " with OID " + std::to_string(relid), "",
                 "Pass the " + w + " by name, such as " +
                     (w == "index" ? "'public.accounts_pkey'" : "'public.accounts'") +
                     "; OID 0 names nothing, nor does the OID of a dropped relation.");
}

std::string relation_label(Oid relid) {
    const char *name = pg_call([&] { return get_rel_name(relid); });
    return "\"" + (name ? std::string(name) : "OID " + std::to_string(relid)) + "\"";
}

std::string qualified_relation_label(Relation rel) {
    const char *nsp = pg_call([&] { return get_namespace_name(RelationGetNamespace(rel)); });
    return "\"" + std::string(nsp) + "." + RelationGetRelationName(rel) + "\"";
}

std::string quoted_relation_name(Relation rel) {
    return pg_call([&] {
        return quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
                                          RelationGetRelationName(rel));
    });
}

} // namespace vigil
