/*
 * pool_sizing.hpp — the M/M/c (Erlang C) queueing model of a connection pool.
 */
#pragma once

namespace vigil {

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

} // namespace vigil
