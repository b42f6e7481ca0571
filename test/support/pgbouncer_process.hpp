// pgbouncer_process.hpp — a real PgBouncer of a test's own, in front of a PostgreSQL server the
// test names (the harness's cluster, an OwnCluster, a Patroni member): its own directory (ini,
// auth file, log, pidfile) under $VIGIL_TEST_CLUSTER_DIR (removed by the harness however the run
// ends; a fresh /tmp directory without the harness), run as the `postgres` user when the test
// runs as root, on a free loopback port, and stopped by the pid in its own pidfile (never by
// name) and removed by the destructor.
//
//     vigil::test::PgBouncerProcess::Options o;
//     o.server_port = 5432;             // the PostgreSQL it pools (host 127.0.0.1 by default)
//     o.pool_mode = "transaction";      // or "session", "statement"
//     o.default_pool_size = 1;
//     vigil::test::PgBouncerProcess bouncer(o);
//     ASSERT_TRUE(bouncer.ok()) << bouncer.error();
//     bouncer.dsn("postgres");          // a client connection through it
//     bouncer.admin_dsn();              // the admin console (dbname=pgbouncer, user postgres)
//
// Every database name is routed to the server (`* = host=... port=...`), authentication is
// `trust` with the users of Options::users in the auth file, and those users are admin_users and
// stats_users, so the admin console answers SHOW and PAUSE/RESUME.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <libpq-fe.h>

#include "daemon_process.hpp"
#include "test_support.hpp"

namespace vigil::test {

class PgBouncerProcess {
  public:
    struct Options {
        std::string server_host = "127.0.0.1";
        int server_port = 5432;
        std::string pool_mode = "transaction"; // session, transaction or statement
        int default_pool_size = 5;
        int max_client_conn = 500;
        std::vector<std::string> users = {"postgres"}; // in the auth file; admin and stats users
        std::vector<std::string> extra_settings; // more [pgbouncer] lines, e.g. "max_db_connections = 4"
        std::string name = "pgbouncer";          // part of the directory's name
    };

    // Writes the configuration and starts PgBouncer; ok() says whether it accepts connections
    // (error() says why not).
    explicit PgBouncerProcess(Options options) : options_(std::move(options)) {
        if (const char *parent = std::getenv("VIGIL_TEST_CLUSTER_DIR")) {
            dir_ = std::string(parent) + "/" + options_.name + "_" + std::to_string(getpid()) + "_" +
                   std::to_string(counter()++);
            run_command("rm -rf " + dir_ + " && mkdir -p " + dir_);
        } else {
            std::string tmpl = "/tmp/" + options_.name + "_XXXXXX";
            if (!mkdtemp(tmpl.data())) {
                error_ = "mkdtemp failed";
                return;
            }
            dir_ = tmpl;
        }
        if (geteuid() == 0)
            run_command("chown postgres: " + dir_);
        std::ofstream(dir_ + "/userlist.txt") << auth_file();
        for (int attempt = 0; attempt < 5 && !ok_; ++attempt) {
            port_ = free_port();
            write_ini();
            if (start())
                break;
        }
    }
    ~PgBouncerProcess() {
        if (dir_.empty())
            return;
        stop();
        run_command("rm -rf " + dir_);
    }
    PgBouncerProcess(const PgBouncerProcess &) = delete;
    PgBouncerProcess &operator=(const PgBouncerProcess &) = delete;

    bool ok() const { return ok_; }
    const std::string &error() const { return error_; }
    int port() const { return port_; }
    const std::string &dir() const { return dir_; }
    const Options &options() const { return options_; }
    std::string log() const { return read_file(dir_ + "/pgbouncer.log"); }

    // A client connection through PgBouncer to `dbname`.
    std::string dsn(const std::string &dbname = "postgres", const std::string &user = "postgres") const {
        return "host=127.0.0.1 port=" + std::to_string(port_) + " user=" + user + " dbname=" + dbname;
    }
    // The admin console: only the simple query protocol, SHOW ... commands.
    std::string admin_dsn() const { return dsn("pgbouncer"); }

    // The pid in PgBouncer's pidfile, or 0 when it is not running.
    pid_t pid() const {
        const pid_t p = static_cast<pid_t>(std::atoi(read_file(dir_ + "/pgbouncer.pid").c_str()));
        return p > 0 && ::kill(p, 0) == 0 ? p : 0;
    }

    // Starts it (again) on the same port and waits until the admin console answers (10 s).
    bool start() {
        const auto r = run_command(as_pg() + "/usr/sbin/pgbouncer -d " + dir_ + "/pgbouncer.ini");
        if (r.exit_code != 0) {
            error_ = "pgbouncer -d: " + r.output + log();
            return ok_ = false;
        }
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < until) {
            if (PQping(admin_dsn().c_str()) == PQPING_OK)
                return ok_ = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        error_ = "pgbouncer did not accept connections within 10 s: " + log();
        stop();
        return ok_ = false;
    }

    // SIGTERM (immediate shutdown) to its own pid, waiting up to 5 s for it to go, then SIGKILL.
    void stop() {
        thaw();
        const pid_t p = pid();
        if (p <= 0)
            return;
        ::kill(p, SIGTERM);
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (::kill(p, 0) == 0 && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (::kill(p, 0) == 0)
            ::kill(p, SIGKILL);
        while (::kill(p, 0) == 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ::unlink((dir_ + "/pgbouncer.pid").c_str());
    }

    // SIGSTOP: the kernel still accepts connections, PgBouncer answers nothing (a hung pooler).
    bool freeze() {
        frozen_ = pid();
        return frozen_ > 0 && ::kill(frozen_, SIGSTOP) == 0;
    }
    void thaw() {
        if (frozen_ > 0)
            ::kill(frozen_, SIGCONT);
        frozen_ = 0;
    }

  private:
    static std::string as_pg() { return geteuid() == 0 ? "runuser -u postgres -- " : ""; }
    static int &counter() {
        static int n = 0;
        return n;
    }
    std::string auth_file() const {
        std::string text;
        for (const auto &u : options_.users)
            text += "\"" + u + "\" \"\"\n";
        return text;
    }
    void write_ini() const {
        std::string users;
        for (const auto &u : options_.users)
            users += (users.empty() ? "" : ",") + u;
        std::ofstream ini(dir_ + "/pgbouncer.ini");
        ini << "[databases]\n* = host=" << options_.server_host << " port=" << options_.server_port << "\n\n"
            << "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " << port_ << "\nunix_socket_dir =\n"
            << "auth_type = trust\nauth_file = " << dir_ << "/userlist.txt\n"
            << "admin_users = " << users << "\nstats_users = " << users << "\n"
            << "pool_mode = " << options_.pool_mode << "\ndefault_pool_size = " << options_.default_pool_size
            << "\nmax_client_conn = " << options_.max_client_conn << "\n"
            << "logfile = " << dir_ << "/pgbouncer.log\npidfile = " << dir_ << "/pgbouncer.pid\n";
        for (const auto &line : options_.extra_settings)
            ini << line << '\n';
    }

    Options options_;
    std::string dir_, error_;
    int port_ = 0;
    bool ok_ = false;
    pid_t frozen_ = 0;
};

} // namespace vigil::test
