/*
 * pool_sizing.cpp — connection-pool sizing: the cores × 2 + spindles formula, and pool_wait()
 * and pool_size_for() on the M/M/c queueing model (Erlang C, core/erlang_c.hpp).
 */
#include "guard.hpp"
#include "result_row.hpp"
#include "result_set.hpp"
#include "core/erlang_c.hpp"

extern "C" {
#include "postmaster/postmaster.h"
}

#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

/* The classic starting point for a pool: twice the cores plus the effective spindles. */
int pool_size_formula(int cpu_cores, int effective_spindles) {
    if (cpu_cores < 1)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                           "cpu_cores must be at least 1, not " + std::to_string(cpu_cores), "",
                           "Pass the number of CPU cores of the database host.");
    if (effective_spindles < 0)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                           "effective_spindles must not be negative, not " +
                               std::to_string(effective_spindles),
                           "", "Pass 0 for SSDs or a fully cached data set.");
    const long size = 2L * cpu_cores + effective_spindles;
    if (size > PG_INT32_MAX)
        throw vigil::Error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "pool size is out of range for integer");
    return static_cast<int>(size);
}

} // namespace

/* vigil.pool_size_formula(cpu_cores int, effective_spindles int DEFAULT 0) → int */
VIGIL_FUNCTION(vigil_pool_size_formula) {
    PG_RETURN_INT32(pool_size_formula(PG_GETARG_INT32(0), PG_GETARG_INT32(1)));
}

namespace {

constexpr int kMaxPoolSize = 1000000;

/* Refuses an arrival rate or a service time the queueing model cannot take. */
void check_rate_and_service(double arrival_rate_per_s, double service_time_ms) {
    if (!std::isfinite(arrival_rate_per_s) || arrival_rate_per_s < 0)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                           "arrival_rate_per_s must be a finite number of at least 0", "",
                           "Pass the request (transaction) rate per second.");
    if (!std::isfinite(service_time_ms) || service_time_ms <= 0)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                           "service_time_ms must be a finite number greater than 0", "",
                           "Pass how long one request holds a connection, in milliseconds.");
}

/* One number, printf-formatted, for an explanation. */
std::string fmt(const char *format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

/* One row of pool_size_for() / pool_advice(). */
struct AdviceRow {
    const char *metric;
    double value;
    std::string explanation;
};

/* The server's connection slots for clients: max_connections minus the reserved ones. */
int available_connections() {
    return MaxConnections - ReservedBackends;
}

} // namespace

/*
 * vigil.pool_wait(arrival_rate_per_s, service_time_ms, pool_size) → (utilization, p_wait,
 * mean_wait_ms, p95_wait_ms, p99_wait_ms): Erlang C. At utilisation >= 1 the queue grows
 * without bound: p_wait is 1 and the waits are Infinity.
 */
VIGIL_FUNCTION(vigil_pool_wait) {
    const double rate = PG_GETARG_FLOAT8(0);
    const double service = PG_GETARG_FLOAT8(1);
    const int pool = PG_GETARG_INT32(2);
    check_rate_and_service(rate, service);
    if (pool < 1 || pool > kMaxPoolSize)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE, "pool_size must be between 1 and " +
                                                                std::to_string(kMaxPoolSize) + ", not " +
                                                                std::to_string(pool));
    const vigil::core::QueueMetrics m = vigil::core::mmc_metrics(rate, service, pool);
    Datum values[5] = {Float8GetDatum(m.utilization), Float8GetDatum(m.p_wait),
                       Float8GetDatum(m.mean_wait_ms), Float8GetDatum(m.p95_wait_ms),
                       Float8GetDatum(m.p99_wait_ms)};
    bool nulls[5] = {false, false, false, false, false};
    return vigil::result_row(fcinfo, values, nulls);
}

/*
 * vigil.pool_size_for(arrival_rate_per_s, service_time_ms, target_p99_wait_ms, app_instances,
 * safety_margin) → SETOF (metric, value, explanation): the smallest pool whose p99 wait meets
 * the target at a utilisation of at most safety_margin, split over the application instances
 * and checked against this server's connection slots.
 */
VIGIL_FUNCTION(vigil_pool_size_for) {
    const double rate = PG_GETARG_FLOAT8(0);
    const double service = PG_GETARG_FLOAT8(1);
    const double target = PG_GETARG_FLOAT8(2);
    const int instances = PG_GETARG_INT32(3);
    const double margin = PG_GETARG_FLOAT8(4);
    check_rate_and_service(rate, service);
    if (!std::isfinite(target) || target < 0)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                           "target_p99_wait_ms must be a finite number of at least 0");
    if (instances < 1)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                           "app_instances must be at least 1, not " + std::to_string(instances), "",
                           "Pass the number of application processes that each keep their own pool.");
    if (!(margin > 0 && margin <= 1))
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                           "safety_margin must be greater than 0 and at most 1", "",
                           "It is the highest utilisation the pool may run at; 0.8 is a common choice.");

    const double a = rate * service / 1000.0;
    const std::optional<vigil::core::PoolFit> fit = vigil::core::smallest_pool(
        a, service, target, margin, kMaxPoolSize, [] { vigil::check_for_interrupts(); });
    if (!fit)
        throw vigil::Error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                           "no pool of up to " + std::to_string(kMaxPoolSize) +
                               " connections meets the target",
                           "The offered load is " + fmt("%.0f", a) + " busy connections.",
                           "Reduce the service time or spread the load over several servers.");
    const int pool = fit->pool_size;
    const double p_wait = fit->p_wait;
    const double p99 = fit->p99_wait_ms;
    const int per_instance = (pool + instances - 1) / instances;
    const long total = static_cast<long>(per_instance) * instances;
    const int available = available_connections();

    std::vector<AdviceRow> rows;
    rows.push_back({"offered_load", a,
                    "Little's law: " + fmt("%g", rate) + " requests/s × " + fmt("%g", service) +
                        " ms = " + fmt("%.2f", a) + " connections busy on average"});
    rows.push_back({"pool_size", static_cast<double>(pool),
                    "smallest pool with p99 wait <= " + fmt("%g", target) +
                        " ms and utilisation <= " + fmt("%.0f", margin * 100) + "% (Erlang C)"});
    rows.push_back({"utilization", a / pool, "busy fraction of the pool at that size"});
    rows.push_back({"p_wait", p_wait, "probability that a request waits for a connection"});
    rows.push_back({"p99_wait_ms", p99, "99th percentile of the wait for a connection"});
    rows.push_back({"per_instance_pool", static_cast<double>(per_instance),
                    "pool size for each of " + std::to_string(instances) + " application instance(s)"});
    rows.push_back(
        {"total_connections", static_cast<double>(total), "connections all instances open together"});
    rows.push_back({"available_connections", static_cast<double>(available),
                    "max_connections " + std::to_string(MaxConnections) + " minus " +
                        std::to_string(ReservedBackends) + " superuser_reserved_connections on this server"});
    std::string verdict;
    if (total > available)
        verdict = "bottleneck: max_connections; " + std::to_string(total) + " connections needed but " +
                  std::to_string(available) +
                  " available: put PgBouncer in front (vigil.pgbouncer_config()) "
                  "or raise max_connections";
    else
        verdict = "ok: a pool of " + std::to_string(per_instance) + " per instance meets the target within " +
                  std::to_string(available) +
                  " available connections; CPU cores of the database host bound "
                  "the useful concurrency (see vigil.pool_advice())";
    rows.push_back({"verdict", static_cast<double>(per_instance), verdict});

    const vigil::ResultSet result(fcinfo);
    for (const AdviceRow &r : rows) {
        Datum values[3] = {vigil::text_datum(r.metric), Float8GetDatum(r.value),
                           vigil::text_datum(r.explanation)};
        bool nulls[3] = {false, false, false};
        result.put(values, nulls);
    }
    return result.done();
}

/* vigil.host_cpu_cores() → int: online CPU cores of the database host. */
VIGIL_FUNCTION(vigil_host_cpu_cores) {
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    PG_RETURN_INT32(cores > 0 ? static_cast<int32>(cores) : 1);
}
