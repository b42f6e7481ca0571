/*
 * health_checks_runner.cpp — vigil.health_check() and vigil.health_summary(): runs the checks of
 * the catalogue (health_checks_catalogue.cpp) and grades their values.
 *
 * Each check is one read-only SQL query returning one row (value, detail and the optional
 * columns CheckDef describes); C++ compares the value with the check's vigil.<check>_warning
 * and vigil.<check>_critical GUCs, and a check that could not see everything it measures (a
 * role without pg_monitor) says so and is unknown. Every check runs in its own subtransaction
 * under a short statement and lock timeout (and without JIT), so a failing or blocked check
 * becomes `unknown` and never aborts the others. Only catalogs, statistics views and sequences'
 * data pages are read (no pg_relation_size(); the one lock taken on a user relation is each
 * sequence's, held only while vigil.sequence_last_value reads it), so the function is cheap on
 * databases with many tables and works on a hot standby.
 */
#include "guard.hpp"
#include "health_checks.hpp"
#include "health_checks_catalogue.hpp"
#include "health_checks_limits.hpp"
#include "result_row.hpp"
#include "result_set.hpp"
#include "spi.hpp"
#include "core/health_status.hpp"
#include "core/partial_sight.hpp"

extern "C" {
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace {

using vigil::core::HealthStatus;
using vigil::health::Blind;
using vigil::health::CheckDef;
using vigil::health::format_value;
using vigil::health::threshold_value;

/* The result of one check, as returned by vigil.health_check(). */
struct CheckResult {
    std::string name;
    HealthStatus status = HealthStatus::Unknown;
    std::string current_value; /* empty = NULL */
    std::string threshold;
    std::string detail;
    std::string recommendation; /* empty = NULL */
};

/* What a check's query returned (see CheckDef). */
struct QueryRow {
    std::optional<double> value; /* nullopt: no data */
    std::string detail;
    std::string forced_status;
    std::string recommendation; /* empty: the check's own */
    long long hidden = 0;       /* objects the role could not see */
    std::string hidden_in;
};

/* Runs a check's query through SPI: it must return exactly one row of 2 to 6 columns, the first
 * numeric (float8, numeric or an integer type), the fifth an integer, the others text. */
QueryRow run_check_query(const std::string &sql) {
    vigil::SpiConnection spi;
    if (spi.execute(sql, true, 2) != SPI_OK_SELECT)
        throw vigil::Error(ERRCODE_INTERNAL_ERROR, "health check query is not a SELECT");
    const int natts = spi.columns();
    bool shape_ok = spi.rows() == 1 && natts >= 2 && natts <= 6;
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
        if (natts >= 4)
            row.recommendation = spi.text(0, 4).value_or("");
        if (natts >= 5)
            row.hidden = std::strtoll(spi.text(0, 5).value_or("0").c_str(), nullptr, 10);
        if (natts >= 6)
            row.hidden_in = spi.text(0, 6).value_or("");
    }
    if (!shape_ok)
        throw vigil::Error(ERRCODE_INTERNAL_ERROR, "health check query returned an unexpected result",
                           "It must return one row of (number, text[, text[, text[, bigint[, text]]]]).");
    return row;
}

/* The calling role as a GRANT names it. */
std::string current_role_ident() {
    return vigil::pg_call(
        [] { return std::string(quote_identifier(GetUserNameFromId(GetUserId(), false))); });
}

/* Grades check i's query result against its thresholds. A check that could not see everything
 * says what was hidden and is unknown unless what it saw is already critical. */
void evaluate(int i, const QueryRow &row, CheckResult *out) {
    const CheckDef &def = vigil::health::check(i);
    out->detail = row.detail;
    if (row.value)
        out->current_value = format_value(def.kind, *row.value);
    out->status = vigil::core::grade(
        row.value, {threshold_value(i, false), threshold_value(i, true), def.lower_is_worse},
        row.forced_status);
    if (out->status != HealthStatus::Ok)
        out->recommendation = row.recommendation;
    if (row.hidden > 0 && def.blind != Blind::Nothing) {
        const std::string role = current_role_ident();
        out->detail += "; " + vigil::core::hidden_detail(def.blind, row.hidden, role, row.hidden_in);
        out->status = vigil::core::graded_in_part(out->status);
        if (out->status == HealthStatus::Unknown)
            out->recommendation = vigil::core::grant_recommendation(def.blind, role, row.hidden_in);
    }
}

/* Runs check i in its own subtransaction; any error becomes status unknown. */
CheckResult run_check(int i) {
    const CheckDef &def = vigil::health::check(i);
    CheckResult result;
    result.name = def.name;
    const std::string op = def.lower_is_worse ? "< " : "> ";
    result.threshold = "warning " + op + format_value(def.kind, threshold_value(i, false)) + ", critical " +
                       op + format_value(def.kind, threshold_value(i, true));

    const int timeout_ms = vigil::health::check_timeout_ms();
    vigil::health::StatementDeadline deadline;
    deadline.arm(TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms), timeout_ms > 0);
    try {
        vigil::in_subtransaction([&] {
            const std::string sql = vigil::health::check_query(i);
            evaluate(i, run_check_query(sql), &result);
        });
    } catch (const vigil::PgError &e) {
        if (e.sqlstate() == ERRCODE_QUERY_CANCELED && !deadline.fired()) {
            deadline.disarm();
            throw; /* the user cancelled, or the caller's own statement_timeout expired */
        }
        result.status = HealthStatus::Unknown;
        result.detail = e.sqlstate() == ERRCODE_QUERY_CANCELED
                            ? "the check did not finish within vigil.health_check_timeout (" +
                                  std::to_string(timeout_ms) + " ms)"
                            : std::string("the check failed: ") + e.what();
    } catch (const vigil::Error &e) {
        result.status = HealthStatus::Unknown;
        result.detail = std::string("the check could not run: ") + e.what();
        if (!e.hint().empty())
            result.recommendation = e.hint();
    }
    deadline.disarm();
    if (result.status != HealthStatus::Ok && result.recommendation.empty())
        result.recommendation = def.recommendation;
    return result;
}

/* Runs every check, under begin_statement_settings(), in attention order. */
std::vector<CheckResult> run_all_checks() {
    std::vector<CheckResult> results;
    results.reserve(vigil::health::check_count());
    const int nest = vigil::health::begin_statement_settings(vigil::health::check_lock_timeout_ms());
    for (int i = 0; i < vigil::health::check_count(); i++) {
        vigil::check_for_interrupts();
        results.push_back(run_check(i));
    }
    vigil::health::end_statement_settings(nest);
    std::stable_sort(results.begin(), results.end(), [](const CheckResult &a, const CheckResult &b) {
        return vigil::core::attention_rank(a.status) < vigil::core::attention_rank(b.status);
    });
    return results;
}

} // namespace

namespace vigil {

void health_checks_init() {
    health::define_check_settings();
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
