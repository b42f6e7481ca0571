/*
 * pool_sizing.cpp — connection-pool sizing: the cores × 2 + spindles formula, pool_wait() and
 * pool_size_for() on the M/M/c queueing model (Erlang C, core/erlang_c.hpp), and the
 * pgbouncer.ini section of pgbouncer_config() (core/pgbouncer_ini.hpp).
 */
#include "arguments.hpp"
#include "guard.hpp"
#include "result_row.hpp"
#include "result_set.hpp"
#include "core/erlang_c.hpp"
#include "core/pgbouncer_ini.hpp"

extern "C" {
#include "commands/dbcommands.h"
#include "postmaster/postmaster.h"
}

#include <algorithm>
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
    vigil::require_not_null(fcinfo, 0, "cpu_cores");
    vigil::require_not_null(fcinfo, 1, "effective_spindles", vigil::Default::exists);
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
    vigil::require_not_null(fcinfo, 0, "arrival_rate_per_s");
    vigil::require_not_null(fcinfo, 1, "service_time_ms");
    vigil::require_not_null(fcinfo, 2, "pool_size");
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
    vigil::require_not_null(fcinfo, 0, "arrival_rate_per_s");
    vigil::require_not_null(fcinfo, 1, "service_time_ms");
    vigil::require_not_null(fcinfo, 2, "target_p99_wait_ms", vigil::Default::exists);
    vigil::require_not_null(fcinfo, 3, "app_instances", vigil::Default::exists);
    vigil::require_not_null(fcinfo, 4, "safety_margin", vigil::Default::exists);
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

namespace {

/* Online CPU cores of the database host. */
int host_cpu_cores() {
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? static_cast<int>(cores) : 1;
}

/* The address this session reached the server on (inet_server_addr()), or else the first
 * Unix-socket directory: where pgbouncer should connect. */
std::string server_host() {
    const char *address = vigil::pg_call([]() -> const char * {
        LOCAL_FCINFO(call, 0);
        InitFunctionCallInfoData(*call, nullptr, 0, InvalidOid, nullptr, nullptr);
        const Datum addr = inet_server_addr(call);
        if (call->isnull)
            return nullptr;
        return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(network_host, addr)));
    });
    if (address)
        return address;
    const std::string dirs = Unix_socket_directories ? Unix_socket_directories : "";
    return dirs.substr(0, dirs.find(','));
}

} // namespace

/* vigil.host_cpu_cores() → int: online CPU cores of the database host. */
VIGIL_FUNCTION(vigil_host_cpu_cores) {
    PG_RETURN_INT32(host_cpu_cores());
}

/*
 * vigil.pgbouncer_config(pool_size int, pool_mode text, max_client_conn int) → text
 * A pgbouncer.ini section for this database; pool_size NULL means cores × 2, capped at the
 * server's connection slots. A value pgbouncer.ini cannot hold (a database name with a line
 * break) is refused with 22023 rather than written.
 */
VIGIL_FUNCTION(vigil_pgbouncer_config) {
    vigil::require_not_null(fcinfo, 1, "pool_mode", vigil::Default::exists);
    vigil::require_not_null(fcinfo, 2, "max_client_conn", vigil::Default::exists);
    vigil::core::PgbouncerSettings s;
    s.available_connections = available_connections();
    s.pool_size = PG_ARGISNULL(0)
                      ? std::min<int64>(pool_size_formula(host_cpu_cores(), 0), s.available_connections)
                      : PG_GETARG_INT32(0);
    s.pool_mode = vigil::pg_call([&] { return text_to_cstring(PG_GETARG_TEXT_PP(1)); });
    s.max_client_conn = PG_GETARG_INT32(2);
    s.database = vigil::pg_call([] { return get_database_name(MyDatabaseId); });
    s.host = server_host();
    s.port = PostPortNumber;
    try {
        return vigil::text_datum(vigil::core::pgbouncer_ini(s));
    } catch (const vigil::core::IniError &e) {
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE, e.what(), "", e.hint());
    }
}
