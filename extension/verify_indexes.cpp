/*
 * verify_indexes.cpp — vigil.verify_indexes(time_budget interval) → SETOF (index, status, detail):
 * amcheck's bt_index_check() on every btree index, within a time budget.
 *
 * Each index is checked in its own subtransaction, under the time left of the budget and under
 * vigil.health_check_lock_timeout (bt_index_check takes ACCESS SHARE locks on the index and its
 * table, and must not queue behind an ACCESS EXCLUSIVE lock and hold up everyone behind it).
 * Corruption that amcheck or the buffer manager reports (SQLSTATE XX001, XX002) makes the index
 * `corrupt`; an index not reached within the budget, not lockable in time or not checkable is
 * `skipped` with the reason; the others are `ok`. A cancel or the caller's statement_timeout
 * still ends the whole call.
 */
#include "guard.hpp"
#include "health_checks_catalogue.hpp"
#include "health_checks_limits.hpp"
#include "result_row.hpp"
#include "result_set.hpp"
#include "spi.hpp"

extern "C" {
#include "datatype/timestamp.h"
#include "utils/timestamp.h"
}

#include <optional>
#include <string>
#include <vector>

namespace {

/* One btree index to check, as listed before the first check. */
struct IndexToCheck {
    Oid oid;
    bool valid;               /* indisvalid and indisready */
    bool unlogged_on_standby; /* its data is not on a standby: amcheck would skip it silently */
    long long pages;          /* relpages, as of the last VACUUM/ANALYZE/CREATE INDEX */
};

/* What vigil.verify_indexes() returns for one index. */
struct Verdict {
    Oid oid;
    const char *status;
    std::string detail;
};

/* The schema amcheck was created in, quoted; 55000 when it is not installed in this database. */
std::string amcheck_schema() {
    vigil::SpiConnection spi;
    const std::string sql =
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'amcheck'";
    if (spi.execute(sql, true, 1) != SPI_OK_SELECT || spi.rows() != 1)
        throw vigil::Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                           "amcheck is not installed in this database",
                           "vigil.verify_indexes() checks btree indexes with amcheck's bt_index_check().",
                           "CREATE EXTENSION amcheck (one of PostgreSQL's contrib modules: package "
                           "postgresql-contrib).");
    return vigil::quote_ident(spi.text(0, 1).value_or(""));
}

/* 42501 unless the role may call bt_index_check (amcheck grants it to no one by default). */
void require_execute(const std::string &function) {
    vigil::SpiConnection spi;
    spi.execute("SELECT has_function_privilege(" + vigil::quote_literal(function) +
                    ", 'EXECUTE'), quote_ident(current_user)",
                true, 1);
    if (spi.text(0, 1).value_or("f") != "t")
        throw vigil::Error(ERRCODE_INSUFFICIENT_PRIVILEGE, "permission denied for function " + function, "",
                           "GRANT EXECUTE ON FUNCTION " + function + " TO " + spi.text(0, 2).value_or("...") +
                               " (amcheck grants it to no role by default), or run as a superuser.");
}

/* Every btree index of this database that this session can open: user indexes first, then the
 * system catalogs' and TOAST tables', each group by schema, table and name. */
std::vector<IndexToCheck> btree_indexes() {
    vigil::SpiConnection spi;
    spi.execute(R"sql(
SELECT c.oid, i.indisvalid AND i.indisready, c.relpersistence = 'u' AND pg_is_in_recovery(), c.relpages
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')
   AND NOT pg_is_other_temp_schema(c.relnamespace)
 ORDER BY n.nspname IN ('pg_catalog', 'pg_toast'), n.nspname, t.relname, c.relname)sql",
                true);
    std::vector<IndexToCheck> out;
    out.reserve(spi.rows());
    for (uint64 r = 0; r < spi.rows(); r++)
        out.push_back({static_cast<Oid>(std::stoul(spi.text(r, 1).value_or("0"))), spi.text(r, 2) == "t",
                       spi.text(r, 3) == "t", std::stoll(spi.text(r, 4).value_or("0"))});
    return out;
}

/* The budget as microseconds (a month counts 30 days); 22023 when negative. */
int64 budget_usecs(const Interval *budget) {
    const int64 usecs = budget->time + (budget->day + static_cast<int64>(budget->month) * DAYS_PER_MONTH) *
                                           static_cast<int64>(USECS_PER_DAY);
    if (usecs < 0)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE, "time_budget must not be negative", "",
                           "Pass how long the checks may take, e.g. '10 min'.");
    return usecs;
}

/* Checks one index before deadline; corruption and failures become its verdict. */
Verdict verify(const IndexToCheck &index, const std::string &check_function, TimestampTz deadline) {
    if (!index.valid)
        return {index.oid, "skipped",
                "not valid (a failed CREATE INDEX CONCURRENTLY, see the invalid_indexes health check): "
                "rebuild it with REINDEX INDEX CONCURRENTLY"};
    if (index.unlogged_on_standby)
        return {index.oid, "skipped", "unlogged: a standby has no data of it to check"};
    if (GetCurrentTimestamp() >= deadline)
        return {index.oid, "skipped", "not reached within the time budget"};

    const TimestampTz started = GetCurrentTimestamp();
    vigil::health::StatementDeadline timer;
    timer.arm(deadline, true);
    Verdict verdict{index.oid, "ok", ""};
    try {
        vigil::in_subtransaction([&] {
            vigil::SpiConnection spi;
            spi.execute("SELECT " + check_function + "(" + std::to_string(index.oid) + "::oid::regclass)",
                        true);
        });
        const long long ms = (GetCurrentTimestamp() - started) / 1000;
        verdict.detail = "bt_index_check found no corruption (" + std::to_string(index.pages) +
                         (index.pages == 1 ? " page, " : " pages, ") + std::to_string(ms) + " ms)";
    } catch (const vigil::PgError &e) {
        const int code = e.sqlstate();
        const char *pg_detail = e.data()->detail;
        if (code == ERRCODE_INDEX_CORRUPTED || code == ERRCODE_DATA_CORRUPTED) {
            verdict.status = "corrupt";
            verdict.detail = std::string(e.what()) + (pg_detail ? std::string(": ") + pg_detail : "");
        } else if (code == ERRCODE_QUERY_CANCELED && timer.fired()) {
            verdict.status = "skipped";
            verdict.detail = "the time budget ran out while checking it";
        } else if (code == ERRCODE_QUERY_CANCELED) {
            timer.disarm();
            throw; /* the user cancelled, or the caller's own statement_timeout expired */
        } else if (code == ERRCODE_LOCK_NOT_AVAILABLE) {
            verdict.status = "skipped";
            verdict.detail = "could not lock it within vigil.health_check_lock_timeout (" +
                             std::to_string(vigil::health::check_lock_timeout_ms()) + " ms)";
        } else {
            verdict.status = "skipped";
            verdict.detail = std::string("the check failed: ") + e.what();
        }
    }
    timer.disarm();
    return verdict;
}

} // namespace

/* vigil.verify_indexes(time_budget interval) → SETOF (index regclass, status text, detail text) */
VIGIL_FUNCTION(vigil_verify_indexes) {
    const int64 budget = budget_usecs(PG_GETARG_INTERVAL_P(0));
    const std::string schema = amcheck_schema();
    require_execute(schema + ".bt_index_check(regclass)");
    const std::vector<IndexToCheck> indexes = btree_indexes();

    const TimestampTz deadline = GetCurrentTimestamp() + budget;
    std::vector<Verdict> verdicts;
    verdicts.reserve(indexes.size());
    const int nest = vigil::health::begin_statement_settings(vigil::health::check_lock_timeout_ms());
    for (const IndexToCheck &index : indexes) {
        vigil::check_for_interrupts();
        verdicts.push_back(verify(index, schema + ".bt_index_check", deadline));
    }
    vigil::health::end_statement_settings(nest);

    const vigil::ResultSet rows(fcinfo);
    for (const Verdict &v : verdicts) {
        Datum values[3] = {ObjectIdGetDatum(v.oid), vigil::text_datum(v.status), vigil::text_datum(v.detail)};
        bool nulls[3] = {false, false, false};
        rows.put(values, nulls);
    }
    return rows.done();
}
