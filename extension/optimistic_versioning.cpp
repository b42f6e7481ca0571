/*
 * optimistic_versioning.cpp — vigil.enable_versioning() and vigil.disable_versioning(): a
 * table's version column and the versioning trigger on it.
 */
#include "arguments.hpp"
#include "guard.hpp"
#include "optimistic_table.hpp"
#include "relation.hpp"
#include "spi.hpp"

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

} // namespace

/* vigil.enable_versioning(rel regclass, version_column name) → void */
VIGIL_FUNCTION(vigil_enable_versioning) {
    vigil::require_not_null(fcinfo, 0, "rel");
    vigil::require_not_null(fcinfo, 1, "version_column");
    const std::string ver = vigil::name_arg(fcinfo, 1);
    std::string table;
    bool add_column = false;
    {
        vigil::OpenRelation rel(PG_GETARG_OID(0));
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
    }
    vigil::SpiConnection spi;
    if (add_column)
        run_utility(spi, "ALTER TABLE " + table + " ADD COLUMN " + vigil::quote_ident(ver) +
                             " pg_catalog.int8 NOT NULL DEFAULT 1");
    const std::string arg = vigil::quote_literal(ver);
    run_utility(spi, std::string("CREATE OR REPLACE TRIGGER ") + versioning_trigger_name +
                         " BEFORE UPDATE ON " + table +
                         " FOR EACH ROW EXECUTE FUNCTION vigil.versioning_trigger(" + arg + ")");
    PG_RETURN_VOID();
}

/* vigil.disable_versioning(rel regclass) → void; the version column stays. */
VIGIL_FUNCTION(vigil_disable_versioning) {
    vigil::require_not_null(fcinfo, 0, "rel");
    std::string table;
    {
        vigil::OpenRelation rel(PG_GETARG_OID(0));
        require_table(rel.get());
        table = vigil::quoted_relation_name(rel.get());
    }
    vigil::SpiConnection spi;
    run_utility(spi, std::string("DROP TRIGGER IF EXISTS ") + versioning_trigger_name + " ON " + table);
    PG_RETURN_VOID();
}
