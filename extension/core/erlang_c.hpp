/*
 * erlang_c.hpp — the M/M/c queueing model (Erlang C) of a connection pool: requests arrive at
 * rate lambda, hold a connection for an exponentially distributed service time S, and wait in
 * the pool's queue when all c connections are busy. The one implementation of the formula in
 * pgvigil; pure C++ (no PostgreSQL header), specified by test/unit/extension_erlang_c_test.cpp.
 */
#pragma once

#include <functional>
#include <optional>

namespace vigil::core {

/* What an M/M/c pool looks like at a given arrival rate, service time and size. */
struct QueueMetrics {
    double offered_load; /* arrival rate × service time: connections busy on average */
    double utilization;  /* offered_load / pool size */
    double p_wait;       /* Erlang C: probability that a request waits */
    double mean_wait_ms;
    double p95_wait_ms;
    double p99_wait_ms;
};

/* Erlang B blocking probability, by the numerically stable recurrence. */
double erlang_b(double offered_load, int servers);

/* One step of that recurrence: B(servers) from B(servers - 1). */
double erlang_b_step(double previous, double offered_load, int servers);

/* Erlang C waiting probability from Erlang B (offered_load < servers). */
double erlang_c_from_b(double b, double offered_load, int servers);

/* The q-quantile of the waiting time in ms (0 when fewer than 1 - q requests wait). */
double wait_quantile_ms(double p_wait, double offered_load, int servers, double service_ms, double q);

/* The queue's metrics; at utilisation >= 1, p_wait = 1 and the waits are infinite. */
QueueMetrics mmc_metrics(double arrival_rate_per_s, double service_time_ms, int pool_size);

/* The smallest pool meeting a p99 target, with its Erlang C figures. */
struct PoolFit {
    int pool_size;
    double p_wait;
    double p99_wait_ms;
};

/*
 * The smallest pool of at most max_pool connections whose p99 wait is at most target_p99_ms
 * while its utilisation stays at or below max_utilization; nullopt when none is. progress is
 * called after every 4096 sizes tried (the extension checks for a cancel there).
 */
std::optional<PoolFit> smallest_pool(double offered_load, double service_ms, double target_p99_ms,
                                     double max_utilization, int max_pool,
                                     const std::function<void()> &progress = {});

} // namespace vigil::core
