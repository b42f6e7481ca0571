// history_size.cpp — the history store's cost in a simulated fleet (bench_history.sh prints it):
// a day of captures at history.interval with timestamps advanced, not waited for, then
//   round 1..R: the store's size per target after the day and the median time of record();
//   day 2:      the record() time once downsampling runs (the first hours past raw_for);
//   full:       one target captured for retention + 1 days: the size a store settles at.
// Prints one JSON object.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "../support/history_fleet.hpp"
#include "history/store.hpp"

using namespace vigil;
namespace fs = std::filesystem;

namespace {

constexpr double t0 = 1'800'000'000;

double median(std::vector<double> v) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double mean(const std::vector<double> &v) {
    double sum = 0;
    for (double x : v)
        sum += x;
    return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

double quantile(std::vector<double> v, double q) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

long long file_bytes(const std::string &path) {
    long long total = 0;
    for (const char *suffix : {"", "-wal", "-shm"})
        if (fs::exists(path + suffix))
            total += static_cast<long long>(fs::file_size(path + suffix));
    return total;
}

// Records captures first .. first+count-1; returns each record()'s time in milliseconds.
std::vector<double> run(history::Store &store, const test::FleetShape &shape, long long first,
                        long long count, double interval) {
    std::vector<double> ms;
    ms.reserve(static_cast<std::size_t>(count));
    for (long long n = first; n < first + count; ++n) {
        const double now = t0 + interval * static_cast<double>(n);
        const auto fleet = test::make_fleet(shape, n, now);
        const auto start = std::chrono::steady_clock::now();
        store.record(fleet, now);
        ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    return ms;
}

int arg(int argc, char **argv, const std::string &name, int fallback) {
    for (int i = 1; i + 1 < argc; ++i)
        if (argv[i] == "--" + name)
            return std::atoi(argv[i + 1]);
    return fallback;
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: history_size DIR [--targets 10 --databases 4 --tables 20 --statements 20"
                             " --checks 15 --interval 60 --rounds 3 --day2-hours 4 --full-days 15]\n");
        return 2;
    }
    const fs::path dir = argv[1];
    test::FleetShape shape{arg(argc, argv, "targets", 10), arg(argc, argv, "databases", 4),
                           arg(argc, argv, "tables", 20),  arg(argc, argv, "statements", 20),
                           arg(argc, argv, "checks", 15),  1};
    const double interval = arg(argc, argv, "interval", 60);
    const int rounds = arg(argc, argv, "rounds", 3);
    const int day2_hours = arg(argc, argv, "day2-hours", 4);
    const int full_days = arg(argc, argv, "full-days", 15);
    const long long per_day = static_cast<long long>(86400 / interval);

    std::vector<double> round_median_ms, round_bytes, round_file_bytes, day2_ms;
    double p95_ms = 0, max_ms = 0, mean_ms = 0;
    long long series = 0;
    for (int r = 0; r < rounds; ++r) {
        fs::remove_all(dir);
        const std::string path = (dir / "history.sqlite3").string();
        history::Store store(path);
        if (!store.available()) {
            std::fprintf(stderr, "%s\n", store.status().c_str());
            return 1;
        }
        const auto ms = run(store, shape, 0, per_day, interval);
        round_median_ms.push_back(median(ms));
        round_bytes.push_back(static_cast<double>(store.size_bytes()) / shape.targets);
        round_file_bytes.push_back(static_cast<double>(file_bytes(path)) / shape.targets);
        if (r == 0) {
            p95_ms = quantile(ms, 0.95);
            mean_ms = mean(ms);
            max_ms = *std::max_element(ms.begin(), ms.end());
            for (const auto &t : store.targets())
                for (const auto &d : store.databases(t))
                    for (const char *m :
                         {"connections", "table_size_bytes", "statement_calls", "check_severity"})
                        series += static_cast<long long>(store.series_labels(t, d, m).size());
            day2_ms =
                run(store, shape, per_day, day2_hours * 3600 / static_cast<long long>(interval), interval);
        }
    }

    // One target for the whole retention: the size its history settles at.
    fs::remove_all(dir);
    test::FleetShape one = shape;
    one.targets = 1;
    long long full_bytes = 0;
    double full_median_ms = 0;
    {
        history::Store store((dir / "history.sqlite3").string());
        const auto ms = run(store, one, 0, per_day * full_days, interval);
        full_median_ms = median(ms);
        full_bytes = store.size_bytes();
    }
    fs::remove_all(dir);

    std::printf("{\"targets\": %d, \"databases\": %d, \"tables\": %d, \"statements\": %d, \"checks\": %d,"
                " \"interval_s\": %.0f, \"captures_per_day\": %lld, \"rounds\": %d, \"some_series\": %lld,\n"
                " \"record_ms_median\": %.3f, \"record_ms_round_medians\": [",
                shape.targets, shape.databases, shape.tables, shape.statements, shape.checks, interval,
                per_day, rounds, series, median(round_median_ms));
    for (std::size_t i = 0; i < round_median_ms.size(); ++i)
        std::printf("%s%.3f", i ? ", " : "", round_median_ms[i]);
    std::printf("], \"record_ms_mean\": %.3f, \"record_ms_p95\": %.3f, \"record_ms_max\": %.3f,\n"
                " \"bytes_per_target_day\": %.0f, \"file_bytes_per_target_day\": %.0f,\n"
                " \"day2_hours\": %d, \"day2_record_ms_median\": %.3f, \"day2_record_ms_mean\": %.3f,"
                " \"day2_record_ms_p95\": %.3f,"
                " \"day2_record_ms_max\": %.3f,\n"
                " \"full_days\": %d, \"full_bytes_per_target\": %lld, \"full_record_ms_median\": %.3f}\n",
                mean_ms, p95_ms, max_ms, median(round_bytes), median(round_file_bytes), day2_hours,
                median(day2_ms), mean(day2_ms), quantile(day2_ms, 0.95),
                day2_ms.empty() ? 0 : *std::max_element(day2_ms.begin(), day2_ms.end()), full_days,
                full_bytes, full_median_ms);
    return 0;
}
