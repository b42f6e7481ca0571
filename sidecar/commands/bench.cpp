// bench.cpp — `vigild bench`: run a named workload through the pool and report latencies.
#include <iostream>

#include <spdlog/spdlog.h>

#include "workload/runner.hpp"
#include "commands/cli.hpp"
#include "exit_codes.hpp"
#include "commands/pool_options.hpp"
#include "retry.hpp"

namespace vigil {

namespace {

// "read=60,crud=30" -> {read: 60, crud: 30}
std::map<std::string, int> parse_weights(const std::string &text) {
    std::map<std::string, int> weights;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t comma = text.find(',', pos);
        if (comma == std::string::npos)
            comma = text.size();
        const std::string item = text.substr(pos, comma - pos);
        const std::size_t eq = item.find('=');
        try {
            if (eq == std::string::npos)
                throw std::invalid_argument(item);
            std::size_t used = 0;
            const int w = std::stoi(item.substr(eq + 1), &used);
            if (used != item.size() - eq - 1 || w < 0)
                throw std::invalid_argument(item);
            weights[item.substr(0, eq)] = w;
        } catch (const std::exception &) {
            throw CommandError(exit_code::usage,
                               "--weights: expected name=weight[,name=weight...], got '" + item + "'");
        }
        pos = comma + 1;
    }
    return weights;
}

// The message and exit code the command line gives for a workload that cannot run: the option
// at fault named as on the command line.
CommandError command_error(const bench::WorkloadError &e) {
    using Kind = bench::WorkloadError::Kind;
    switch (e.kind()) {
    case Kind::unknown_workload:
        return CommandError(exit_code::usage, e.what());
    case Kind::weights:
        return CommandError(exit_code::usage, std::string("--weights: ") + e.what());
    case Kind::demo_schema:
        return CommandError(exit_code::data_error,
                            std::string(e.what()) +
                                ": run `vigild init-schema` first to create and seed the demo schema");
    case Kind::table:
        return CommandError(exit_code::data_error, std::string("--table: ") + e.what());
    case Kind::columns:
        return CommandError(exit_code::data_error, std::string("--columns: ") + e.what());
    case Kind::extension:
        return CommandError(exit_code::unavailable, e.what());
    }
    return CommandError(exit_code::software, e.what());
}

// What a SQLSTATE that failed bench operations means, in a few words (or nothing).
std::string what_failed(const std::string &sqlstate) {
    static const std::map<std::string, std::string> words = {
        {"08001", "no connection within acquire_timeout"},
        {"08006", "connection lost or refused"},
        {"53300", "no free connection slot on the server"},
        {"57P01", "server shut down"},
        {"57P02", "server crashed"},
        {"57P03", "server not accepting connections"},
        {"57014", "statement timeout or cancel"},
        {"40001", "serialization failure past --max-retries"},
        {"40P01", "deadlock past --max-retries"},
        {"XX000", "vigild's own error, see the log"},
    };
    const auto it = words.find(sqlstate);
    return it == words.end() ? "" : " (" + it->second + ")";
}

// A run whose operations failed does not end as if it had not: the counts by SQLSTATE go to
// stderr and the exit code names the cause: 69 when some failed because the server could not
// be reached or the connection was lost, 70 for vigild's own errors, else 75 (no free slot,
// timeouts, conflicts past --max-retries, other SQL errors: the numbers are not a clean run).
int failures_exit_code(const bench::Report &report) {
    const auto &errors = report.overall.errors;
    if (errors.empty() && !report.invariant_error)
        return exit_code::ok;
    std::uint64_t failed = 0;
    std::string counts;
    bool unreachable = false, internal = false;
    for (const auto &[state, n] : errors) {
        failed += n;
        counts += (counts.empty() ? "" : ", ") + state + "=" + std::to_string(n) + what_failed(state);
        unreachable = unreachable || retry::is_unavailable(state);
        internal = internal || state == "XX000";
    }
    if (failed > 0)
        std::cerr << "vigild: " << failed << " of " << failed + report.overall.count
                  << " operations failed, by SQLSTATE: " << counts << '\n';
    if (report.invariant_error) {
        std::cerr << "vigild: the invariant could not be checked: " << report.invariant_error->what() << '\n';
        unreachable = unreachable || retry::is_unavailable(report.invariant_error->sqlstate());
    }
    return unreachable ? exit_code::unavailable : internal ? exit_code::software : exit_code::temp_failure;
}

struct BenchArgs {
    bench::Options options;
    std::optional<Seconds> duration;
    std::optional<long long> transactions;
    std::string weights;
    bool json = false;
    PoolFlags pool;
};

} // namespace

void register_bench_command(CommandRegistry &registry) {
    auto args = std::make_shared<BenchArgs>();
    CLI::App *cmd = registry.add(
        "bench", "Run a workload (read, crud, feed, transfer, mixed) with many clients and report latencies",
        [args](Context &ctx) {
            bench::Options o = args->options;
            if (args->duration && args->transactions)
                throw CommandError(exit_code::usage, "give --duration or --transactions, not both");
            if (args->duration)
                o.duration = args->duration->count();
            o.transactions = args->transactions;
            if (!o.duration && !o.transactions)
                o.duration = 10.0;
            if (!args->weights.empty())
                o.weights = parse_weights(args->weights);
            if (o.table != "users" && o.workload != "read" && o.workload != "mixed")
                throw CommandError(exit_code::usage,
                                   "--table applies to reads: use it with --workload read or mixed");
            if (o.pipeline > 1 && o.workload != "read" && o.workload != "mixed")
                throw CommandError(exit_code::usage,
                                   "--pipeline applies to reads: use it with --workload read or mixed");
            PoolConfig pc = apply_pool_flags(ctx.config.pool, args->pool);
            if (!args->pool.max_size)
                pc.max_size =
                    std::max(pc.max_size, o.clients); // one connection per client unless told otherwise
            if (o.threads > 0 && o.threads < o.clients) {
                // Shared threads never wait for a connection: a wait would stall the thread's other clients.
                if (o.workload != "read")
                    throw CommandError(
                        exit_code::usage,
                        "--threads applies to --workload read (other workloads run a thread per client)");
                if (o.no_pool || o.rate > 0)
                    throw CommandError(exit_code::usage,
                                       "--threads cannot be combined with --no-pool or --rate");
                if (pc.max_size < o.clients)
                    throw CommandError(
                        exit_code::usage,
                        "--threads needs a pool of at least --clients connections (--pool-size " +
                            std::to_string(pc.max_size) + " < --clients " + std::to_string(o.clients) + ")");
            }
            pool::Settings settings = pool::Settings::from_config(pc, ctx.dsn());
            o.replicas = pc.replicas;
            o.max_replica_lag = pc.max_replica_lag;
            bench::Runner runner(o, settings);
            bench::Report report;
            try {
                report = runner.run();
            } catch (const bench::WorkloadError &e) {
                throw command_error(e);
            }
            if (args->json)
                std::cout << report.to_json().dump(2) << '\n';
            else
                std::cout << report.to_table();
            const int failures = failures_exit_code(report);
            if (!report.invariant_ok) {
                std::cerr << "vigild: invariant violated: " << report.invariant.value("message", "") << '\n';
                return exit_code::software;
            }
            return failures;
        });
    cmd->add_option("-w,--workload", args->options.workload, "read, crud, feed, transfer or mixed")
        ->check(CLI::IsMember({"read", "crud", "feed", "transfer", "mixed"}))
        ->capture_default_str();
    cmd->add_option("--clients", args->options.clients, "Concurrent clients (threads)")
        ->check(CLI::Range(1, 10000))
        ->capture_default_str();
    add_duration_flag(cmd, "--duration", args->duration, "Run this long, e.g. 30s or 5min (default 10s)",
                      /*positive=*/true);
    cmd->add_option("--transactions", args->transactions, "Run this many operations in total instead")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--rate", args->options.rate,
                    "Target operations per second over all clients (0: unthrottled)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--pipeline", args->options.pipeline, "Send reads in libpq pipeline batches of N")
        ->check(CLI::Range(1, 1000));
    cmd->add_option("--table", args->options.table,
                    "read: the table to read rows of by primary key (default users, the demo schema's)")
        ->capture_default_str();
    cmd->add_option("--columns", args->options.columns,
                    "read: the columns to select, comma-separated (default: every column of --table)")
        ->delimiter(',');
    cmd->add_option("--threads", args->options.threads,
                    "read: run the clients on this many threads, each serving its clients' connections "
                    "without blocking (as pgbench -j); 0: a thread per client")
        ->check(CLI::Range(0, 10000))
        ->capture_default_str();
    cmd->add_flag("--no-pool", args->options.no_pool,
                  "Open a new connection for every operation (to show the cost)");
    cmd->add_option("--weights", args->weights, "mixed: weights, e.g. read=50,crud=40,transfer=10");
    cmd->add_option("--max-retries", args->options.max_retries,
                    "Retries of 40001/40P01/lost connections per operation")
        ->check(CLI::Range(0, 100));
    cmd->add_flag("--json", args->json, "Print one JSON object (schema in docs/sidecar.md)");
    add_pool_flags(cmd, args->pool);
}

} // namespace vigil
