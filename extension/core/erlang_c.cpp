/*
 * erlang_c.cpp — the M/M/c queue (see erlang_c.hpp).
 */
#include "erlang_c.hpp"

#include <cmath>
#include <limits>

namespace vigil::core {

/* Erlang B for c servers and offered load a, by the recurrence B(k) = aB(k-1) / (k + aB(k-1)):
 * no factorials or powers, so it neither overflows nor loses precision for c in the millions. */
double erlang_b(double offered_load, int servers) {
    double b = 1.0;
    for (int k = 1; k <= servers; k++)
        b = erlang_b_step(b, offered_load, k);
    return b;
}

double erlang_b_step(double previous, double offered_load, int servers) {
    return offered_load * previous / (servers + offered_load * previous);
}

/* Erlang C from Erlang B: the probability that a request has to wait (requires a < c). */
double erlang_c_from_b(double b, double offered_load, int servers) {
    const double rho = offered_load / servers;
    return b / (1.0 - rho * (1.0 - b));
}

/* The waiting time exceeded with probability 1 - q: P(W > t) = C·exp(-(c - a)·t / S). */
double wait_quantile_ms(double p_wait, double offered_load, int servers, double service_ms, double q) {
    if (p_wait <= 1.0 - q)
        return 0.0;
    return service_ms / (servers - offered_load) * std::log(p_wait / (1.0 - q));
}

QueueMetrics mmc_metrics(double arrival_rate_per_s, double service_time_ms, int pool_size) {
    QueueMetrics m{};
    m.offered_load = arrival_rate_per_s * service_time_ms / 1000.0;
    m.utilization = m.offered_load / pool_size;
    if (m.utilization >= 1.0) {
        m.p_wait = 1.0;
        m.mean_wait_ms = m.p95_wait_ms = m.p99_wait_ms = std::numeric_limits<double>::infinity();
        return m;
    }
    m.p_wait = erlang_c_from_b(erlang_b(m.offered_load, pool_size), m.offered_load, pool_size);
    m.mean_wait_ms = m.p_wait * service_time_ms / (pool_size - m.offered_load);
    m.p95_wait_ms = wait_quantile_ms(m.p_wait, m.offered_load, pool_size, service_time_ms, 0.95);
    m.p99_wait_ms = wait_quantile_ms(m.p_wait, m.offered_load, pool_size, service_time_ms, 0.99);
    return m;
}

/* Walks c upwards, carrying Erlang B along, until the targets are met. */
std::optional<PoolFit> smallest_pool(double offered_load, double service_ms, double target_p99_ms,
                                     double max_utilization, int max_pool,
                                     const std::function<void()> &progress) {
    const double a = offered_load;
    double b = 1.0;
    for (int c = 1; c <= max_pool; c++) {
        if (progress && c % 4096 == 0)
            progress();
        b = erlang_b_step(b, a, c);
        if (a / c >= 1.0 || a / c > max_utilization)
            continue;
        const double p_wait = erlang_c_from_b(b, a, c);
        const double p99 = wait_quantile_ms(p_wait, a, c, service_ms, 0.99);
        if (p99 <= target_p99_ms)
            return PoolFit{c, p_wait, p99};
    }
    return std::nullopt;
}

} // namespace vigil::core
