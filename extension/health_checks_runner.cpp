/*
 * health_checks_runner.cpp — vigil.health_check() and vigil.health_summary(): runs the checks of
 * the catalogue (health_checks_catalogue.cpp) and grades their values.
 *
 * Each check is one read-only SQL query returning one row (value float8, detail text
 * [, forced_status text]); C++ compares the value with the check's vigil.<check>_warning
 * and vigil.<check>_critical GUCs. Every check runs in its own subtransaction under a
 * short statement and lock timeout, so a failing or blocked check becomes `unknown` and
 * never aborts the others. Only catalogs, statistics views and sequences' data pages are
 * read (no pg_relation_size(); the one lock taken on a user relation is each sequence's,
 * held only while vigil.sequence_last_value reads it), so the function is cheap on
 * databases with many tables and works on a hot standby.
 */
#include "guard.hpp"
#include "health_checks.hpp"
#include "health_checks_catalogue.hpp"
#include "result_row.hpp"
#include "result_set.hpp"
#include "spi.hpp"
#include "core/health_status.hpp"

extern "C" {
#include "utils/guc.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
}

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace {

using vigil::core::HealthStatus;
using vigil::health::CheckDef;
using vigil::health::format_value;
using vigil::health::threshold_value;

int g_check_timeout_ms = 2000;
int g_check_lock_timeout_ms = 500;

/* The result of one check, as returned by vigil.health_check(). */
struct CheckResult {
    std::string name;
    HealthStatus status = HealthStatus::Unknown;
    std::string current_value; /* empty = NULL */
    std::string threshold;
    std::string detail;
    std::string recommendation; /* empty = NULL */
};

/* What a check's query returned. */
struct QueryRow {
    std::optional<double> value; /* nullopt: no data */
    std::string detail;
    std::string forced_status;
};

/* Runs a check's query through SPI: it must return exactly one row of 2 or 3 columns,
 * the first numeric (float8, numeric or an integer type), the others text. */
QueryRow run_check_query(const std::string &sql) {
    vigil::SpiConnection spi;
    if (spi.execute(sql, true, 2) != SPI_OK_SELECT)
        throw vigil::Error(ERRCODE_INTERNAL_ERROR, "health check query is not a SELECT");
    const int natts = spi.columns();
    bool shape_ok = spi.rows() == 1 && natts >= 2 && natts <= 3;
    QueryRow row;
    if (shape_ok) {
        if (const std::optional<std::string> text = spi.text(0, 1)) {
            char *end = nullptr;
            row.value = std::strtod(text->c_str(), &end);
            shape_ok = end != text->c_str() && *end == '\0';
        }
        row.detail = spi.text(0, 2).value_or("");
        if (natts >= 3)
            row.forced_status = spi.text(0, 3).value_or("");
    }
    if (!shape_ok)
        throw vigil::Error(ERRCODE_INTERNAL_ERROR, "health check query returned an unexpected result",
                           "It must return one row of (number, text[, text]).");
    return row;
}

/* Grades check i's query result against its thresholds. */
void evaluate(int i, const QueryRow &row, CheckResult *out) {
    const CheckDef &def = vigil::health::check(i);
    out->detail = row.detail;
    if (row.value)
        out->current_value = format_value(def.kind, *row.value);
    out->status = vigil::core::grade(
        row.value, {threshold_value(i, false), threshold_value(i, true), def.lower_is_worse},
        row.forced_status);
}

/* The statement timeout a check runs under: ours, or the caller's if that comes sooner. */
struct CheckTimer {
    bool outer_active = false;
    TimestampTz outer_finish = 0;
    TimestampTz deadline = 0;

    void arm() {
        deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), g_check_timeout_ms);
        vigil::pg_call([&] {
            outer_active = get_timeout_active(STATEMENT_TIMEOUT);
            if (outer_active)
                outer_finish = get_timeout_finish_time(STATEMENT_TIMEOUT);
            if (g_check_timeout_ms > 0)
                enable_timeout_at(STATEMENT_TIMEOUT,
                                  outer_active ? std::min(outer_finish, deadline) : deadline);
        });
    }

    void disarm() {
        vigil::pg_call([&] {
            disable_timeout(STATEMENT_TIMEOUT, false);
            /* Our timer fired after the check finished: drop its cancel so that it does
             * not end the next check (or the caller's statement). */
            if (get_timeout_indicator(STATEMENT_TIMEOUT, true) &&
                !(outer_active && GetCurrentTimestamp() >= outer_finish))
                QueryCancelPending = false;
            if (outer_active)
                enable_timeout_at(STATEMENT_TIMEOUT, outer_finish);
        });
    }

    /* True when a query cancel came from our timeout, not from the user or their timeout. */
    bool fired() const {
        const TimestampTz now = GetCurrentTimestamp();
        return g_check_timeout_ms > 0 && now >= deadline && !(outer_active && now >= outer_finish);
    }
};

/* Runs check i in its own subtransaction; any error becomes status unknown. */
CheckResult run_check(int i) {
    const CheckDef &def = vigil::health::check(i);
    CheckResult result;
    result.name = def.name;
    const std::string op = def.lower_is_worse ? "< " : "> ";
    result.threshold = "warning " + op + format_value(def.kind, threshold_value(i, false)) + ", critical " +
                       op + format_value(def.kind, threshold_value(i, true));

    CheckTimer timer;
    timer.arm();
    try {
        vigil::in_subtransaction([&] {
            const std::string sql = vigil::health::check_query(i);
            evaluate(i, run_check_query(sql), &result);
        });
    } catch (const vigil::PgError &e) {
        if (e.sqlstate() == ERRCODE_QUERY_CANCELED && !timer.fired()) {
            timer.disarm();
            throw; /* the user cancelled, or the caller's own statement_timeout expired */
        }
        result.status = HealthStatus::Unknown;
        result.detail = e.sqlstate() == ERRCODE_QUERY_CANCELED
                            ? "the check did not finish within vigil.health_check_timeout (" +
                                  std::to_string(g_check_timeout_ms) + " ms)"
                            : std::string("the check failed: ") + e.what();
    } catch (const vigil::Error &e) {
        result.status = HealthStatus::Unknown;
        result.detail = std::string("the check could not run: ") + e.what();
        if (!e.hint().empty())
            result.recommendation = e.hint();
    }
    timer.disarm();
    if (result.status != HealthStatus::Ok && result.recommendation.empty())
        result.recommendation = def.recommendation;
    return result;
}

/* Runs every check with lock_timeout lowered, in attention order. */
std::vector<CheckResult> run_all_checks() {
    std::vector<CheckResult> results;
    results.reserve(vigil::health::check_count());
    const std::string lock_timeout = std::to_string(g_check_lock_timeout_ms);
    const int nest = vigil::pg_call([&] {
        int level = NewGUCNestLevel();
        (void)set_config_option("lock_timeout", lock_timeout.c_str(), PGC_USERSET, PGC_S_SESSION,
                                GUC_ACTION_SAVE, true, 0, false);
        return level;
    });
    for (int i = 0; i < vigil::health::check_count(); i++) {
        vigil::check_for_interrupts();
        results.push_back(run_check(i));
    }
    vigil::pg_call([&] { AtEOXact_GUC(true, nest); });
    std::stable_sort(results.begin(), results.end(), [](const CheckResult &a, const CheckResult &b) {
        return vigil::core::attention_rank(a.status) < vigil::core::attention_rank(b.status);
    });
    return results;
}

} // namespace

namespace vigil {

void health_checks_init() {
    health::define_check_settings();
    health::define_int_setting("vigil.health_check_timeout",
                               "Statement timeout of each health check (0 = none).", &g_check_timeout_ms,
                               2000, 0, GUC_UNIT_MS);
    health::define_int_setting("vigil.health_check_lock_timeout",
                               "Lock timeout of the health checks (0 = none).", &g_check_lock_timeout_ms, 500,
                               0, GUC_UNIT_MS);
}

} // namespace vigil

/*
 * vigil.health_check() → SETOF (check_name, status, severity, current_value, threshold,
 * detail, recommendation): every check, critical first, then warning, unknown, ok.
 */
VIGIL_FUNCTION(vigil_health_check) {
    const std::vector<CheckResult> results = run_all_checks();
    const vigil::ResultSet rows(fcinfo);
    for (const CheckResult &r : results) {
        Datum values[7];
        bool nulls[7] = {false, false, false, false, false, false, false};
        values[0] = vigil::text_datum(r.name);
        values[1] = vigil::text_datum(vigil::core::status_name(r.status));
        values[2] = Int32GetDatum(static_cast<int>(r.status));
        if (r.current_value.empty())
            nulls[3] = true;
        else
            values[3] = vigil::text_datum(r.current_value);
        values[4] = vigil::text_datum(r.threshold);
        values[5] = vigil::text_datum(r.detail);
        if (r.recommendation.empty())
            nulls[6] = true;
        else
            values[6] = vigil::text_datum(r.recommendation);
        rows.put(values, nulls);
    }
    return rows.done();
}

/*
 * vigil.health_summary() → (status, exit_code, critical, warning, ok, unknown): the worst
 * status wins (critical, then warning, then unknown); exit_code follows Nagios (0..3).
 */
VIGIL_FUNCTION(vigil_health_summary) {
    const std::vector<CheckResult> results = run_all_checks();
    int counts[4] = {0, 0, 0, 0};
    std::vector<HealthStatus> statuses;
    for (const CheckResult &r : results) {
        counts[static_cast<int>(r.status)]++;
        statuses.push_back(r.status);
    }
    const HealthStatus worst = vigil::core::overall_status(statuses);
    Datum values[6] = {vigil::text_datum(vigil::core::status_name(worst)),
                       Int32GetDatum(static_cast<int>(worst)),
                       Int32GetDatum(counts[2]),
                       Int32GetDatum(counts[1]),
                       Int32GetDatum(counts[0]),
                       Int32GetDatum(counts[3])};
    bool nulls[6] = {false, false, false, false, false, false};
    return vigil::result_row(fcinfo, values, nulls);
}
