// vigild when things go wrong: the server dies under a bench, every connection slot is taken,
// a table is missing, and a password is in the connection string. Some tests run a server of
// their own, to stop it or to give it only a few connection slots.
#include <atomic>
#include <chrono>
#include <csignal>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <set>
#include <sys/socket.h>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "db.hpp"
#include "exit_codes.hpp"
#include "test_support.hpp"

using namespace vigil;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

using Clock = std::chrono::steady_clock;

std::string env_or_empty(const char *name) {
    const char *v = std::getenv(name);
    return v ? v : "";
}

std::string quoted(const std::string &s) {
    return "'" + s + "'";
}

// A PostgreSQL cluster of the test's own (test/harness/lib.sh's start_cluster), stopped and
// removed when the test ends.
class OwnCluster {
  public:
    explicit OwnCluster(const std::vector<std::string> &conf_lines = {}) {
        bindir_ = env_or_empty("VIGIL_TEST_PG_BINDIR");
        const std::string parent = env_or_empty("VIGIL_TEST_CLUSTER_DIR");
        if (bindir_.empty() || parent.empty()) {
            skip = "needs VIGIL_TEST_PG_BINDIR and VIGIL_TEST_CLUSTER_DIR (test/harness/with_cluster.sh)";
            return;
        }
        dir_ = parent + "/own_" + std::to_string(getpid()) + "_" + std::to_string(counter_++);
        std::string lines;
        for (const auto &l : conf_lines)
            lines += " \"" + l + "\""; // inside the single-quoted script
        const auto r = test::run_command("bash -c " + quoted("source " + std::string(VIGIL_SOURCE_DIR) +
                                                             "/test/harness/lib.sh && PG_BINDIR=" + bindir_ +
                                                             " && start_cluster " + dir_ + lines +
                                                             " && echo PORT=$CLUSTER_PORT"));
        const auto at = r.output.rfind("PORT=");
        if (r.exit_code != 0 || at == std::string::npos) {
            error = "cannot start a cluster: " + r.output;
            return;
        }
        port_ = std::stoi(r.output.substr(at + 5));
    }
    ~OwnCluster() {
        if (!dir_.empty())
            test::run_command("bash -c " + quoted("source " + std::string(VIGIL_SOURCE_DIR) +
                                                  "/test/harness/lib.sh && PG_BINDIR=" + bindir_ +
                                                  " && stop_cluster " + dir_));
    }
    bool ok() const { return port_ > 0; }
    std::string dsn() const {
        return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=postgres";
    }
    // Stops the server at once, as a crash or an OOM kill would (the data stays until the end).
    test::ProcessResult stop_immediately() const {
        return test::run_command("runuser -u postgres -- " + bindir_ + "/pg_ctl -D " + dir_ +
                                 "/data -m immediate -w stop");
    }
    std::string server_log() const { return test::read_file(dir_ + "/server.log"); }
    std::string skip, error; // why there is no cluster: not run by the harness, or it failed to start

  private:
    static inline int counter_ = 0;
    std::string bindir_, dir_;
    int port_ = 0;
};

#define REQUIRE_OWN_CLUSTER(cluster)                                                                         \
    if (!(cluster).skip.empty())                                                                             \
        GTEST_SKIP() << (cluster).skip;                                                                      \
    ASSERT_TRUE((cluster).ok()) << (cluster).error

// vigild started with exactly these arguments and extra environment variables, no shell in
// between: nothing but vigild's own argument list carries what it was given.
class Vigild {
  public:
    Vigild(const std::vector<std::string> &args, const std::map<std::string, std::string> &env = {})
        : log_(::testing::TempDir() + "vigild_hardening_" + std::to_string(getpid()) + "_" +
               std::to_string(counter_++) + ".log") {
        std::vector<std::string> argv = {VIGILD_BINARY};
        argv.insert(argv.end(), args.begin(), args.end());
        started_ = Clock::now();
        pid_ = test::spawn_logged(std::move(argv), log_, env);
    }
    ~Vigild() {
        if (pid_ > 0 && !exited_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        std::remove(log_.c_str());
    }
    bool running() {
        if (exited_)
            return false;
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            finish(status);
            return false;
        }
        return true;
    }
    // The exit code, or -1 when it did not exit within `limit` (it is killed then).
    int wait(std::chrono::milliseconds limit) {
        const auto until = Clock::now() + limit;
        while (running() && Clock::now() < until)
            std::this_thread::sleep_for(10ms);
        if (running()) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
            exited_ = true;
            return -1;
        }
        return exit_code_;
    }
    void signal(int sig) const { kill(pid_, sig); }
    double seconds() const { return std::chrono::duration<double>(ended_ - started_).count(); }
    std::string output() const { return test::read_file(log_); }
    pid_t pid() const { return pid_; }

  private:
    void finish(int status) {
        exited_ = true;
        ended_ = Clock::now();
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    static inline int counter_ = 0;
    std::string log_;
    pid_t pid_ = -1;
    bool exited_ = false;
    int exit_code_ = -1;
    Clock::time_point started_, ended_;
};

nlohmann::json json_in(const std::string &output) {
    const auto start = output.find("{\n");
    const auto end = output.rfind("\n}");
    if (start == std::string::npos || end == std::string::npos)
        return nullptr;
    return nlohmann::json::parse(output.substr(start, end - start + 2));
}

// A table `read --table` can read: 1000 rows by an integer key.
void make_rows(const std::string &dsn) {
    db::Connection conn = db::Connection::open(dsn);
    conn.exec("DROP TABLE IF EXISTS hard_rows; CREATE TABLE hard_rows (id int PRIMARY KEY, v text);"
              "INSERT INTO hard_rows SELECT g, md5(g::text) FROM generate_series(1, 1000) g");
}

std::size_t count_of(const std::string &text, const std::string &what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size()))
        ++n;
    return n;
}

// The argument lists of every process on the machine, NULs shown as spaces.
std::vector<std::string> all_command_lines() {
    std::vector<std::string> out;
    DIR *proc = opendir("/proc");
    if (!proc)
        return out;
    while (dirent *e = readdir(proc)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        // Plain read(2): the process may be gone by now, which is no error here.
        const int fd = open((std::string("/proc/") + e->d_name + "/cmdline").c_str(), O_RDONLY);
        if (fd < 0)
            continue;
        std::string args;
        char buf[4096];
        for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
            args.append(buf, static_cast<std::size_t>(n));
        close(fd);
        for (char &c : args)
            if (c == '\0')
                c = ' ';
        if (!args.empty())
            out.push_back(args);
    }
    closedir(proc);
    return out;
}

// A loopback port nobody listens on right now.
int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
}

// A password nobody else uses, so that finding it anywhere means it leaked.
std::string fresh_password() {
    std::mt19937_64 rng(std::random_device{}());
    return "S3cretPw_" + std::to_string(rng() % 1000000000000ULL);
}

} // namespace

// ---- 1. a duration is a promise ------------------------------------------------------------------

// The server goes away (immediate shutdown, as a crash would) a couple of seconds into a
// six-second bench. Clients used to sit in acquire retries for minutes (30 s acquire_timeout
// times six attempts) and the report was never printed; now the bench ends within its duration
// plus a short grace, prints the report and the errors by SQLSTATE, and exits 69.
TEST(Hardening, BenchEndsOnTimeWhenItsServerGoesAway) {
    OwnCluster cluster;
    REQUIRE_OWN_CLUSTER(cluster);
    make_rows(cluster.dsn());
    Vigild bench({"bench", "--dsn", cluster.dsn(), "--workload", "read", "--table", "hard_rows", "--clients",
                  "4", "--duration", "6", "--json"});
    std::this_thread::sleep_for(2500ms);
    const auto stopped = cluster.stop_immediately();
    ASSERT_EQ(stopped.exit_code, 0) << stopped.output;
    const int code = bench.wait(40s);
    const std::string out = bench.output();
    ASSERT_NE(code, -1) << "the bench was still running 40 s later:\n" << out;
    // 6 s, the grace (at most 2 s), and the start and the report around them.
    EXPECT_LT(bench.seconds(), 6.0 + 2.0 + 1.5) << out;
    EXPECT_GE(bench.seconds(), 5.5) << out;
    EXPECT_EQ(code, exit_code::unavailable) << out;
    const auto j = json_in(out);
    ASSERT_TRUE(j.is_object()) << "no report:\n" << out;
    EXPECT_GT(j["overall"]["count"].get<long long>(), 0) << out;
    EXPECT_FALSE(j["overall"]["errors"].empty()) << out;
    EXPECT_LT(j["seconds"].get<double>(), 8.5) << out;
    EXPECT_THAT(out, HasSubstr("operations failed, by SQLSTATE: 08"));
}

// The same with the transfer workload and no pool: every operation connects on its own, and
// the invariant cannot be checked at the end. The run is reported, the invariant is "unknown".
TEST(Hardening, UnpooledTransferBenchEndsOnTimeWithTheInvariantUnknown) {
    OwnCluster cluster;
    REQUIRE_OWN_CLUSTER(cluster);
    {
        db::Connection conn = db::Connection::open(cluster.dsn());
        conn.exec("SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pgvigil");
        ASSERT_EQ(conn.scalar("SELECT to_regprocedure('vigil.enable_versioning(regclass,name)') IS NOT NULL"),
                  "t")
            << "vigil.enable_versioning is not installed";
    }
    Vigild init({"init-schema", "--dsn", cluster.dsn(), "--users", "100", "--accounts", "50"});
    ASSERT_EQ(init.wait(60s), 0) << init.output();
    Vigild bench({"bench", "--dsn", cluster.dsn(), "--workload", "transfer", "--no-pool", "--clients", "4",
                  "--duration", "4"});
    std::this_thread::sleep_for(1500ms);
    ASSERT_EQ(cluster.stop_immediately().exit_code, 0);
    const int code = bench.wait(40s);
    const std::string out = bench.output();
    ASSERT_NE(code, -1) << "the bench was still running 40 s later:\n" << out;
    EXPECT_LT(bench.seconds(), 4.0 + 2.0 + 1.5) << out;
    EXPECT_EQ(code, exit_code::unavailable) << out;
    EXPECT_THAT(out, HasSubstr("workload transfer: 4 clients, no pool"));
    EXPECT_THAT(out, HasSubstr("invariant: unknown — not checked: cannot connect"));
    EXPECT_THAT(out, HasSubstr("vigild: the invariant could not be checked"));
    EXPECT_THAT(out, HasSubstr("operations failed, by SQLSTATE: 08"));
}

// ---- 3. one clean sentence -------------------------------------------------------------------------

TEST(Hardening, ServerErrorsAreOneCleanSentence) {
    const std::string dsn = test::test_dsn();
    const std::string csv = test::write_temp_file("id\n1\n", ".csv");
    Vigild import({"import", "--dsn", dsn, "--table", "nosuchtable", "--csv", csv});
    EXPECT_EQ(import.wait(30s), exit_code::usage);
    const std::string out = import.output();
    std::remove(csv.c_str());
    EXPECT_EQ(out, "vigild: table nosuchtable: relation \"nosuchtable\" does not exist\n");
    EXPECT_THAT(out, Not(HasSubstr("CONTEXT")));
    EXPECT_THAT(out, Not(HasSubstr("portal")));

    // DETAIL and HINT stay, on the same line; LINE and the caret do not.
    db::Connection conn = db::Connection::open(dsn);
    try {
        conn.exec("SELECT nosuchfunction(1)");
        FAIL() << "no error";
    } catch (const db::DbError &e) {
        EXPECT_EQ(e.sqlstate(), "42883");
        EXPECT_EQ(std::string(e.what()),
                  "function nosuchfunction(integer) does not exist — No function matches the given name and "
                  "argument types. You might need to add explicit type casts.");
    }
    conn.exec("DROP TABLE IF EXISTS hard_unique; CREATE TABLE hard_unique (id int PRIMARY KEY)");
    conn.exec("INSERT INTO hard_unique VALUES (1)");
    try {
        conn.exec_params("INSERT INTO hard_unique VALUES ($1)", {"1"});
        FAIL() << "no error";
    } catch (const db::DbError &e) {
        EXPECT_EQ(e.sqlstate(), "23505");
        EXPECT_EQ(std::string(e.what()), "duplicate key value violates unique constraint "
                                         "\"hard_unique_pkey\" (Key (id)=(1) already exists.)");
    }
}

// ---- 4. max_connections ------------------------------------------------------------------------------

// Every slot taken: a one-shot command says so, with what to do, and exits 75 (try again later)
// instead of 69 "cannot be reached". A bench that gets only some of its connections keeps the
// ones it has, counts 53300 for the rest, and asks the full server for more only now and then.
TEST(Hardening, FullServerIsReportedWithAHintAndRetriedWithBackoff) {
    OwnCluster cluster({"max_connections = 5", "superuser_reserved_connections = 0"});
    REQUIRE_OWN_CLUSTER(cluster);
    make_rows(cluster.dsn());
    std::vector<db::Connection> held;
    for (int i = 0; i < 5; ++i)
        held.push_back(db::Connection::open(cluster.dsn()));

    Vigild info({"info", "--dsn", cluster.dsn()});
    EXPECT_EQ(info.wait(30s), exit_code::temp_failure) << info.output();
    EXPECT_THAT(info.output(), HasSubstr("the server has no free connection slot (max_connections reached"));
    EXPECT_THAT(info.output(), HasSubstr("raise max_connections, or put PgBouncer in front"));
    EXPECT_THAT(info.output(), HasSubstr("(SQLSTATE 53300)"));
    EXPECT_EQ(count_of(info.output(), "\n"), 1u) << info.output();

    // Two slots free: the bench's four clients get two connections between them.
    held.resize(3);
    std::this_thread::sleep_for(300ms); // the backends of the closed connections exit
    const std::size_t refused_before = count_of(cluster.server_log(), "too many clients already");
    Vigild bench({"bench", "--dsn", cluster.dsn(), "--workload", "read", "--table", "hard_rows", "--clients",
                  "4", "--duration", "4", "--acquire-timeout", "1", "--json"});
    const int code = bench.wait(30s);
    const std::string out = bench.output();
    EXPECT_EQ(code, exit_code::temp_failure) << out;
    const auto j = json_in(out);
    ASSERT_TRUE(j.is_object()) << out;
    EXPECT_GT(j["overall"]["count"].get<long long>(), 0) << out;
    // The clients without a connection wait out their acquire_timeout each time (about 2 x 4 s / 1 s).
    EXPECT_GT(j["overall"]["errors"].value("53300", 0), 0) << out;
    EXPECT_LT(j["overall"]["errors"].value("53300", 0), 40) << out;
    EXPECT_THAT(out, HasSubstr("53300="));
    EXPECT_THAT(out, HasSubstr("(no free connection slot on the server)"));
    // A round of attempts now and then (backoff up to 2 s), not one per client per 250 ms, and
    // certainly not a tight loop.
    const std::size_t refused = count_of(cluster.server_log(), "too many clients already") - refused_before;
    EXPECT_GT(refused, 0u);
    EXPECT_LT(refused, 40u) << "connection attempts refused in 4 s";

    // Without a pool every operation connects; the refusals are counted and reported too, where
    // they used to end in exit 0.
    held.push_back(db::Connection::open(cluster.dsn()));
    std::this_thread::sleep_for(300ms);
    Vigild unpooled({"bench", "--dsn", cluster.dsn(), "--workload", "read", "--table", "hard_rows",
                     "--clients", "4", "--duration", "3", "--no-pool", "--json"});
    EXPECT_EQ(unpooled.wait(30s), exit_code::temp_failure) << unpooled.output();
    const auto k = json_in(unpooled.output());
    ASSERT_TRUE(k.is_object()) << unpooled.output();
    EXPECT_GT(k["overall"]["errors"].value("53300", 0), 0) << unpooled.output();
    EXPECT_THAT(unpooled.output(), HasSubstr("(no free connection slot on the server)"));
}

// ---- 5. passwords --------------------------------------------------------------------------------

// A password given in the DSN or in PGPASSWORD shows nowhere: not in the log at trace level,
// not in error messages, not on /metrics, not in the argument lists of pg_dump and pg_restore.
// (The harness's trust authentication accepts any password.)
TEST(Hardening, PasswordsShowNowhere) {
    const std::string base = test::test_dsn();
    const std::string password = fresh_password(), env_password = fresh_password();
    {
        db::Connection admin = db::Connection::open(base);
        admin.exec("DROP ROLE IF EXISTS vigil_pw_role");
        admin.exec("CREATE ROLE vigil_pw_role LOGIN SUPERUSER PASSWORD '" + password + "'");
        admin.exec(
            "DROP TABLE IF EXISTS hard_rows; CREATE TABLE hard_rows (id int PRIMARY KEY, v text);"
            "INSERT INTO hard_rows SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 300000) g");
    }
    const std::string dsn = base + " user=vigil_pw_role password=" + password;
    const std::string uri =
        "postgresql://vigil_pw_role:" + password + "@127.0.0.1:" + env_or_empty("PGPORT") + "/postgres";
    std::vector<std::string> outputs;
    const auto run = [&](const std::vector<std::string> &args, const std::map<std::string, std::string> &env,
                         std::optional<int> expected) {
        std::vector<std::string> all = {"--log-level", "trace"};
        all.insert(all.end(), args.begin(), args.end());
        Vigild v(all, env);
        const int code = v.wait(120s);
        if (expected) {
            EXPECT_EQ(code, *expected) << args[0] << ":\n" << v.output();
        }
        outputs.push_back(v.output());
    };
    const std::map<std::string, std::string> in_dsn = {{"VIGIL_DSN", dsn}};
    const std::map<std::string, std::string> in_env = {{"VIGIL_DSN", base + " user=vigil_pw_role"},
                                                       {"PGPASSWORD", env_password}};
    for (const auto &env : {in_dsn, in_env, std::map<std::string, std::string>{{"VIGIL_DSN", uri}}}) {
        run({"info"}, env, exit_code::ok);
        run({"check"}, env, std::nullopt);
        run({"bench", "--workload", "read", "--table", "hard_rows", "--clients", "2", "--transactions",
             "200"},
            env, exit_code::ok);
        run({"bench", "--workload", "read", "--table", "nosuchtable", "--transactions", "10"}, env,
            exit_code::data_error);
        run({"import", "--table", "nosuchtable", "--csv", "/dev/null"}, env, exit_code::usage);
    }
    // Failures: unreachable, refused by libpq, unparseable; a bench whose connects all fail.
    const std::string nowhere = "host=127.0.0.1 port=1 password=" + password;
    run({"info", "--dsn", nowhere}, {}, exit_code::unavailable);
    run({"info"}, {{"VIGIL_DSN", "host=127.0.0.1 port=1"}, {"PGPASSWORD", env_password}},
        exit_code::unavailable);
    run({"info", "--dsn", nowhere + " sslmode=bogus"}, {}, exit_code::usage);
    run({"info", "--dsn", "postgresql://u:" + password + "@[::1/db"}, {}, exit_code::usage);
    run({"info", "--dsn", "postgresql://u:" + password + "@h:5432:9/db"}, {}, exit_code::usage);
    run({"info", "--dsn", "host=h password=" + password + " " + password}, {}, exit_code::usage);
    run({"bench", "--workload", "read", "--transactions", "5", "--acquire-timeout", "0.5"},
        {{"VIGIL_DSN", nowhere}}, exit_code::unavailable);
    for (const auto &out : outputs) {
        EXPECT_THAT(out, Not(HasSubstr(password)));
        EXPECT_THAT(out, Not(HasSubstr(env_password)));
    }

    // pg_dump and pg_restore get the password in their environment, never as an argument.
    const std::string backups = ::testing::TempDir() + "vigil_pw_backups_" + std::to_string(getpid());
    test::run_command("rm -rf " + backups + " && mkdir -p " + backups);
    std::set<std::string> children;
    for (const auto &env : {in_dsn, in_env}) {
        for (const std::vector<std::string> &args :
             {std::vector<std::string>{"backup", "create", "--directory", backups},
              std::vector<std::string>{"backup", "verify", backups}}) {
            std::vector<std::string> all = {"--log-level", "trace"};
            all.insert(all.end(), args.begin(), args.end());
            Vigild v(all, env);
            while (v.running()) {
                for (const auto &cmdline : all_command_lines()) {
                    EXPECT_THAT(cmdline, Not(HasSubstr(password)));
                    EXPECT_THAT(cmdline, Not(HasSubstr(env_password)));
                    for (const char *program : {"pg_dump ", "pg_restore "})
                        if (cmdline.find(std::string("/") + program) != std::string::npos &&
                            cmdline.find("vigil_pw_role") != std::string::npos)
                            children.insert(program);
                }
                std::this_thread::sleep_for(1ms);
            }
            EXPECT_EQ(v.wait(1s), exit_code::ok) << v.output();
            EXPECT_THAT(v.output(), Not(HasSubstr(password)));
            EXPECT_THAT(v.output(), Not(HasSubstr(env_password)));
        }
    }
    EXPECT_EQ(children, (std::set<std::string>{"pg_dump ", "pg_restore "}))
        << "the children were never seen running, so their arguments were not checked";
    test::run_command("rm -rf " + backups);

    // /metrics and the daemon's log, once polling worked and once it cannot connect.
    for (const std::string &target : {dsn, nowhere}) {
        const int port = free_port();
        const std::string config = test::write_temp_file(
            "[database]\ndsn = \"" + target + "\"\n[metrics]\nlisten = \"127.0.0.1:" + std::to_string(port) +
            "\"\n[health]\ninterval = \"1s\"\n");
        Vigild serve({"--log-level", "trace", "--config", config, "serve"});
        std::string metrics;
        for (int i = 0; i < 100 && metrics.find("vigil_pool_connection_errors_total") == std::string::npos;
             ++i) {
            std::this_thread::sleep_for(100ms);
            httplib::Client client("127.0.0.1", port);
            client.set_connection_timeout(1, 0);
            if (auto res = client.Get("/metrics"))
                metrics = res->body;
        }
        std::this_thread::sleep_for(2500ms); // a few polls, failed ones too
        httplib::Client client("127.0.0.1", port);
        if (auto res = client.Get("/metrics"))
            metrics = res->body;
        serve.signal(SIGTERM);
        EXPECT_EQ(serve.wait(30s), exit_code::ok) << serve.output();
        std::remove(config.c_str());
        EXPECT_THAT(metrics, HasSubstr("vigil_pool_connection_errors_total")) << serve.output();
        EXPECT_THAT(metrics, Not(HasSubstr(password)));
        EXPECT_THAT(serve.output(), Not(HasSubstr(password)));
        if (target == nowhere) {
            EXPECT_THAT(serve.output(), HasSubstr("password=********")) << "the failed polls were logged";
        }
    }
    db::Connection admin = db::Connection::open(base);
    admin.exec("DROP TABLE hard_rows; DROP ROLE vigil_pw_role");
}
