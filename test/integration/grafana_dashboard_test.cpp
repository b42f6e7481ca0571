// grafana_dashboard_test.cpp — the Grafana dashboard's queries run by a real Prometheus (Debian's
// prometheus, started by the test on loopback) that scrapes a real `vigild serve` watching the test
// cluster and a real PgBouncer: every query is PromQL Prometheus accepts, every variable lists the
// names the fleet has, and every query over series vigild exported returns data.
#include <chrono>
#include <csignal>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <sys/wait.h>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "db.hpp"
#include "dsn_params.hpp"
#include "grafana_dashboard.hpp"
#include "pgbouncer_process.hpp"
#include "scratch_database.hpp"
#include "test_support.hpp"

using namespace vigil;
using namespace std::chrono_literals;

namespace {

const char *const kPrometheus = "/usr/bin/prometheus";

// A Prometheus of the test's own: its configuration and storage in a directory of its own, on a
// free loopback port, scraping `scrape_port` every second; stopped by its pid.
class PrometheusProcess {
  public:
    explicit PrometheusProcess(int scrape_port)
        : dir_(::testing::TempDir() + "vigil_prometheus_" + std::to_string(getpid())),
          port_(test::free_port()) {
        test::run_command("rm -rf " + dir_ + " && mkdir -p " + dir_);
        std::ofstream(dir_ + "/prometheus.yml")
            << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
               "scrape_configs:\n  - job_name: vigil\n    static_configs:\n      - targets: ['127.0.0.1:"
            << scrape_port << "']\n";
        pid_ = test::spawn_logged({kPrometheus, "--config.file=" + dir_ + "/prometheus.yml",
                                   "--storage.tsdb.path=" + dir_ + "/data",
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
                                  dir_ + "/prometheus.log");
    }
    ~PrometheusProcess() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            for (int i = 0; i < 100 && waitpid(pid_, nullptr, WNOHANG) == 0; ++i)
                std::this_thread::sleep_for(100ms);
            if (kill(pid_, 0) == 0) {
                kill(pid_, SIGKILL);
                waitpid(pid_, nullptr, 0);
            }
        }
        test::run_command("rm -rf " + dir_);
    }
    // An instant query through the HTTP API; its JSON answer (status, data or error).
    nlohmann::json query(const std::string &promql) const {
        httplib::Client client("127.0.0.1", port_);
        client.set_connection_timeout(2, 0);
        client.set_read_timeout(10, 0);
        auto res = client.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
        if (!res)
            return {{"status", "error"}, {"error", "no answer from Prometheus"}};
        auto answer = nlohmann::json::parse(res->body, nullptr, false);
        if (answer.is_discarded()) // not JSON: Prometheus still starting ("Service Unavailable")
            return {{"status", "error"}, {"error", "HTTP " + std::to_string(res->status) + ": " + res->body}};
        return answer;
    }
    std::string log() const { return test::read_file(dir_ + "/prometheus.log"); }

  private:
    std::string dir_;
    int port_;
    pid_t pid_ = -1;
};

// The dashboard's queries with Grafana's variables as it first shows them: each set to All (`.*`).
std::string with_all_selected(std::string expr) {
    for (const char *variable : {"$instance", "$target", "$pgbouncer"})
        for (std::size_t at; (at = expr.find(variable)) != std::string::npos;)
            expr.replace(at, std::string(variable).size(), ".*");
    return expr;
}

// Whether a query can lack data when nothing is wrong: it keeps only the series a comparison lets
// through (a check that is not ok, a role that is held). Label matchers are not comparisons.
bool filters_by_comparison(const std::string &expr) {
    const std::string outside_matchers = std::regex_replace(expr, std::regex("\\{[^}]*\\}"), "");
    return std::regex_search(outside_matchers, std::regex("[<>]|==|!="));
}

std::set<std::string> label_values(const nlohmann::json &answer, const std::string &label) {
    std::set<std::string> out;
    for (const auto &series : answer.at("data").at("result"))
        if (series.at("metric").contains(label))
            out.insert(series.at("metric").at(label).get<std::string>());
    return out;
}

} // namespace

TEST(GrafanaDashboard, EveryQueryRunsOnARealPrometheusAndTheOnesOverExportedSeriesReturnData) {
    ASSERT_EQ(access(kPrometheus, X_OK), 0) << kPrometheus << " is missing: make deps installs prometheus";
    // A database with what the panels chart: pgvigil (checks, bloat), pg_stat_statements, a table
    // with dead tuples; a PgBouncer with a client, so that it has a pool.
    test::ScratchDatabase scratch("vigil_grafana");
    {
        db::Connection conn = db::Connection::open(scratch.dsn());
        conn.exec(
            "CREATE EXTENSION pgvigil; CREATE EXTENSION pg_stat_statements;"
            "CREATE TABLE grafana_t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g;"
            "DELETE FROM grafana_t WHERE id % 2 = 0; ANALYZE grafana_t");
    }
    test::PgBouncerProcess::Options bouncer_options;
    bouncer_options.server_port = std::stoi(parse_dsn(test::test_dsn()).at("port"));
    bouncer_options.pool_mode = "session";
    bouncer_options.name = "grafana_bouncer";
    test::PgBouncerProcess bouncer(bouncer_options);
    ASSERT_TRUE(bouncer.ok()) << bouncer.error();
    db::Connection client = db::Connection::open(bouncer.dsn(scratch.name()));
    client.exec("SELECT 1");

    const int port = test::free_port();
    test::Daemon d(test::write_temp_file(
        "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n[health]\ninterval = \"1s\"\n" +
        "[[targets]]\nname = \"local\"\ndsn = \"" + scratch.dsn() + "\"\ndatabases = [\"" + scratch.name() +
        "\"]\n" + "[[pgbouncers]]\nname = \"edge\"\ndsn = \"" + bouncer.admin_dsn() + "\"\n"));
    ASSERT_TRUE(test::wait_until(
        [&] {
            const auto e = test::get(port, "/metrics");
            if (!e || (*e)->status != 200)
                return false;
            const auto x = test::parse_prometheus((*e)->body);
            if (x.value("vigil_up", {{"target", "local"}}) != 1.0 ||
                x.value("vigil_pgbouncer_up", {{"pgbouncer", "edge"}}) != 1.0)
                return false;
            // A poll of the database and one of the server have come in, with every view they read
            // (a slow machine, such as the sanitizer run, takes several intervals to get there).
            for (const char *family : {"vigil_database_connections", "vigil_transaction_id_age",
                                       "vigil_database_transactions_committed_total", "vigil_wal_bytes_total",
                                       "vigil_table_dead_tuples", "vigil_statement_seconds_total",
                                       "vigil_health_check_status", "vigil_pgbouncer_servers_active"})
                if (x.count(family) == 0)
                    return false;
            return true;
        },
        60s))
        << d.log();
    // What vigild exports now, every sample of which Prometheus's next scrapes take.
    const test::PromExposition exported = test::scrape(port);
    PrometheusProcess prometheus(port);
    // A few scrapes, so that rate() over the dashboard's windows has two samples.
    ASSERT_TRUE(test::wait_until(
        [&] {
            const auto a = prometheus.query("count_over_time(vigil_up{target=\"local\"}[1m]) >= 4");
            return a.value("status", "") == "success" && !a.at("data").at("result").empty();
        },
        60s))
        << "Prometheus did not scrape vigild\n"
        << prometheus.log() << d.log();

    const auto dash = test::grafana_dashboard();
    // The variables: Grafana's label_values(selector, label) is the label's values over the selector.
    const std::regex label_values_call("label_values\\((.*), *([a-z_]+)\\)");
    std::map<std::string, std::set<std::string>> variable_values;
    for (const auto &v : dash.at("templating").at("list")) {
        if (v.at("type") != "query")
            continue;
        std::smatch m;
        const std::string definition = v.at("definition");
        ASSERT_TRUE(std::regex_match(definition, m, label_values_call)) << definition;
        const auto answer = prometheus.query(with_all_selected(m[1]));
        ASSERT_EQ(answer.value("status", ""), "success") << definition << ": " << answer.dump();
        variable_values[v.at("name")] = label_values(answer, m[2]);
    }
    EXPECT_EQ(variable_values["instance"], std::set<std::string>{"127.0.0.1:" + std::to_string(port)});
    EXPECT_EQ(variable_values["target"], std::set<std::string>{"local"});
    EXPECT_EQ(variable_values["pgbouncer"], std::set<std::string>{"edge"});

    const std::regex metric("vigil_[a-z_]+");
    int queries = 0, with_data = 0;
    std::vector<std::string> without_exported_series;
    for (const auto &[title, expr] : test::panel_queries(dash)) {
        ++queries;
        const auto answer = prometheus.query(with_all_selected(expr));
        if (answer.value("status", "") != "success") {
            ADD_FAILURE() << "panel " << title << ": Prometheus refuses " << expr << "\n" << answer.dump();
            continue;
        }
        bool exported_series = true;
        for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric); it != std::sregex_iterator();
             ++it)
            exported_series = exported_series && exported.count((*it)[0]) > 0;
        if (!exported_series) {
            without_exported_series.push_back(expr);
            continue;
        }
        if (filters_by_comparison(expr))
            continue;
        EXPECT_FALSE(answer.at("data").at("result").empty())
            << "panel " << title << " shows nothing: " << expr << "\n"
            << answer.dump();
        with_data += !answer.at("data").at("result").empty();
    }
    std::cout << "[measured] " << queries << " dashboard queries run by Prometheus, " << with_data
              << " with data; over series this fleet does not export:";
    for (const auto &e : without_exported_series)
        std::cout << "\n  " << e;
    std::cout << "\n";
    EXPECT_GE(queries, 50);
    EXPECT_GE(with_data, 40); // 42 here: a fleet without standbys, Patroni or backups charts the rest
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(15s), 0) << d.log();
}
