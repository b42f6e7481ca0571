/*
 * optimistic_versioning.cpp — vigil.enable_versioning() and vigil.disable_versioning(): a
 * table's version column and the versioning trigger on it.
 *
 * A table has at most one versioning trigger, on one column. Enabling it again on that column
 * changes nothing (an ENABLE ALWAYS on the trigger stays); enabling it on another column is
 * refused, because the trigger would silently stop guarding the first one: switching is
 * disable_versioning, then enable_versioning with the new column. Everything that can be
 * checked is checked before any statement runs, so a refusal names the argument or the
 * privilege, not the internal ALTER TABLE.
 */
#include "arguments.hpp"
#include "guard.hpp"
#include "optimistic_table.hpp"
#include "relation.hpp"
#include "spi.hpp"

extern "C" {
#include "catalog/heap.h"
#include "commands/trigger.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
}

#include <optional>
#include <string>

namespace {

using vigil::optimistic::find_column;
using vigil::optimistic::primary_key_if_any;
using vigil::optimistic::require_not_key;
using vigil::optimistic::require_table;
using vigil::optimistic::version_column;
using vigil::optimistic::versioning_trigger_name;

/* Runs a utility statement composed of quoted identifiers and literals. */
void run_utility(vigil::SpiConnection &spi, const std::string &sql) {
    (void)spi.execute(sql, false);
}

/* Refuses a version column name no column can have: empty, or a system column's. */
void check_column_name(const std::string &ver) {
    if (ver.empty())
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE, "version_column must not be empty", "",
                           "Pass the name of the version column, or leave it out for \"version\".");
    if (vigil::pg_call([&] { return SystemAttributeByName(ver.c_str()) != nullptr; }))
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                           "version_column \"" + ver + "\" is the name of a system column", "",
                           "Pick another name, such as \"version\".");
}

/* The versioning trigger on the table as it is: absent, or installed on a column. */
struct InstalledTrigger {
    bool exists = false;
    bool is_pgvigil = false; /* runs vigil.versioning_trigger() with one argument */
    std::string column;      /* its argument */
};

InstalledTrigger installed_trigger(Relation rel) {
    InstalledTrigger found;
    const TriggerDesc *td = rel->trigdesc;
    for (int i = 0; td && i < td->numtriggers; i++) {
        const Trigger &t = td->triggers[i];
        if (std::string(t.tgname) != versioning_trigger_name)
            continue;
        found.exists = true;
        const Oid fn = t.tgfoid;
        const bool ours = vigil::pg_call([&] {
            const char *name = get_func_name(fn);
            const char *nsp = get_namespace_name(get_func_namespace(fn));
            return name && nsp && strcmp(name, "versioning_trigger") == 0 && strcmp(nsp, "vigil") == 0;
        });
        found.is_pgvigil = ours && t.tgnargs == 1;
        if (found.is_pgvigil)
            found.column = t.tgargs[0];
    }
    return found;
}

/* Refuses a caller who may not do what enabling needs: own the table to add a column, hold
 * TRIGGER on it to install the trigger. */
void check_enable_privileges(Relation rel, bool add_column) {
    const Oid relid = RelationGetRelid(rel);
    const std::string table = vigil::quoted_relation_name(rel);
    if (add_column) {
        if (!vigil::pg_call([&] { return pg_class_ownercheck(relid, GetUserId()); }))
            throw vigil::Error(
                ERRCODE_INSUFFICIENT_PRIVILEGE,
                "must be owner of table " + vigil::qualified_relation_label(rel) +
                    " to add its version column",
                "",
                "Run vigil.enable_versioning() as the table's owner, or have the owner add the "
                "column (bigint NOT NULL DEFAULT 1) and GRANT TRIGGER ON " +
                    table + " TO " + vigil::current_role_ident() + ".");
        return;
    }
    if (vigil::pg_call([&] { return pg_class_aclcheck(relid, GetUserId(), ACL_TRIGGER); }) != ACLCHECK_OK)
        throw vigil::Error(ERRCODE_INSUFFICIENT_PRIVILEGE,
                           "permission denied to version table " + vigil::qualified_relation_label(rel),
                           "Installing the versioning trigger needs the TRIGGER privilege on the table.",
                           "GRANT TRIGGER ON " + table + " TO " + vigil::current_role_ident() +
                               "; or run it as the table's owner.");
}

} // namespace

/* vigil.enable_versioning(rel regclass, version_column name) → void */
VIGIL_FUNCTION(vigil_enable_versioning) {
    vigil::require_not_null(fcinfo, 0, "rel");
    vigil::require_not_null(fcinfo, 1, "version_column", vigil::Default::exists);
    const std::string ver = vigil::name_arg(fcinfo, 1);
    check_column_name(ver);
    std::string table;
    bool add_column = false;
    bool add_trigger = true;
    {
        vigil::OpenRelation rel(PG_GETARG_OID(0), "table");
        require_table(rel.get());
        table = vigil::quoted_relation_name(rel.get());
        if (const auto col = find_column(rel.get(), ver)) {
            require_not_key(rel.get(), primary_key_if_any(rel.get()), version_column(rel.get(), ver));
            const Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel.get()), col->attnum - 1);
            if (!att->attnotnull)
                throw vigil::Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                                   "version column \"" + ver + "\" of table " +
                                       vigil::qualified_relation_label(rel.get()) + " must be NOT NULL",
                                   "",
                                   "Fill it and run ALTER TABLE " + table + " ALTER COLUMN " +
                                       vigil::quote_ident(ver) + " SET NOT NULL first.");
        } else {
            add_column = true;
        }
        check_enable_privileges(rel.get(), add_column);

        const InstalledTrigger installed = installed_trigger(rel.get());
        if (installed.exists && !installed.is_pgvigil)
            throw vigil::Error(ERRCODE_DUPLICATE_OBJECT,
                               std::string("table ") + vigil::qualified_relation_label(rel.get()) +
                                   " already has a trigger named " + versioning_trigger_name +
                                   " that is not pgvigil's",
                               "", "Rename or drop that trigger, then run vigil.enable_versioning() again.");
        /* Already versioned by this column: nothing to do (but put back a column dropped since). */
        add_trigger = !(installed.exists && installed.column == ver);
        if (installed.exists && add_trigger)
            throw vigil::Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                               "table " + vigil::qualified_relation_label(rel.get()) +
                                   " is already versioned by column \"" + installed.column + "\"",
                               "A table has one versioning trigger, on one column.",
                               "To version it by \"" + ver + "\" instead, run vigil.disable_versioning(" +
                                   vigil::quote_literal(table) + ") first; column \"" + installed.column +
                                   "\" and its values stay.");
    }
    if (!add_column && !add_trigger)
        PG_RETURN_VOID();
    vigil::SpiConnection spi;
    if (add_column)
        run_utility(spi, "ALTER TABLE " + table + " ADD COLUMN " + vigil::quote_ident(ver) +
                             " pg_catalog.int8 NOT NULL DEFAULT 1");
    if (add_trigger)
        run_utility(spi, std::string("CREATE TRIGGER ") + versioning_trigger_name + " BEFORE UPDATE ON " +
                             table + " FOR EACH ROW EXECUTE FUNCTION vigil.versioning_trigger(" +
                             vigil::quote_literal(ver) + ")");
    PG_RETURN_VOID();
}

/* vigil.disable_versioning(rel regclass) → void; the version column stays. */
VIGIL_FUNCTION(vigil_disable_versioning) {
    vigil::require_not_null(fcinfo, 0, "rel");
    std::string table;
    {
        vigil::OpenRelation rel(PG_GETARG_OID(0), "table");
        require_table(rel.get());
        table = vigil::quoted_relation_name(rel.get());
        const Oid relid = RelationGetRelid(rel.get());
        if (!vigil::pg_call([&] { return pg_class_ownercheck(relid, GetUserId()); }))
            throw vigil::Error(ERRCODE_INSUFFICIENT_PRIVILEGE,
                               "must be owner of table " + vigil::qualified_relation_label(rel.get()) +
                                   " to remove its versioning trigger",
                               "", "Run vigil.disable_versioning() as the table's owner.");
        const InstalledTrigger installed = installed_trigger(rel.get());
        if (!installed.exists)
            PG_RETURN_VOID(); /* not versioned: nothing to do */
        if (!installed.is_pgvigil)
            throw vigil::Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                               std::string("trigger ") + versioning_trigger_name + " on table " +
                                   vigil::qualified_relation_label(rel.get()) + " is not pgvigil's",
                               "",
                               std::string("Drop it yourself if it should go: DROP TRIGGER ") +
                                   versioning_trigger_name + " ON " + table + ".");
    }
    vigil::SpiConnection spi;
    run_utility(spi, std::string("DROP TRIGGER ") + versioning_trigger_name + " ON " + table);
    PG_RETURN_VOID();
}
