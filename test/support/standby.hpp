// standby.hpp — a streaming standby of a test's primary (pg_basebackup -R -X stream), for the
// tests of replication, read routing and failover. It lives in its own directory under the
// harness's cluster directory ($VIGIL_TEST_CLUSTER_DIR, removed by the harness however the run
// ends), runs as the `postgres` user when the test runs as root, on a free loopback port, and is
// stopped and removed by the destructor (by its own data directory, never by name).
#pragma once

#include <cstdlib>
#include <regex>
#include <string>
#include <unistd.h>

#include "daemon_process.hpp"
#include "test_support.hpp"

namespace vigil::test {

class Standby {
  public:
    // A standby of the primary on 127.0.0.1:`primary_port` (0: the harness's cluster). ok() says
    // whether it is running; error() says why not.
    explicit Standby(const std::string &name = "standby", int primary_port = 0) {
        const char *bindir = std::getenv("VIGIL_TEST_PG_BINDIR");
        const char *parent = std::getenv("VIGIL_TEST_CLUSTER_DIR");
        if (!bindir || !parent) {
            error_ = "needs VIGIL_TEST_PG_BINDIR and VIGIL_TEST_CLUSTER_DIR (test/harness/with_cluster.sh)";
            return;
        }
        bindir_ = bindir;
        if (primary_port == 0)
            primary_port = harness_port();
        if (primary_port == 0) {
            error_ = "no primary port: the harness's DSN names none";
            return;
        }
        dir_ = std::string(parent) + "/" + name + "_" + std::to_string(getpid());
        run_command("rm -rf " + dir_);
        run_command("mkdir -p " + dir_ + (geteuid() == 0 ? " && chown postgres: " + dir_ : ""));
        const auto backup = run_command(as_pg() + bindir_ + "/pg_basebackup -D " + data() +
                                        " -R -X stream -c fast -h 127.0.0.1 -p " +
                                        std::to_string(primary_port) + " -U postgres");
        if (backup.exit_code != 0) {
            error_ = "pg_basebackup: " + backup.output;
            return;
        }
        for (int attempt = 0; attempt < 5 && port_ == 0; ++attempt) {
            const int port = free_port();
            const auto started = pg_ctl("-o '-p " + std::to_string(port) + "' -w -t 60 start");
            if (started.exit_code == 0)
                port_ = port;
            else
                error_ = started.output;
        }
    }
    ~Standby() {
        if (dir_.empty())
            return;
        pg_ctl("-m immediate -w stop");
        run_command("rm -rf " + dir_);
    }
    Standby(const Standby &) = delete;
    Standby &operator=(const Standby &) = delete;

    bool ok() const { return port_ != 0; }
    const std::string &error() const { return error_; }
    const std::string &dir() const { return dir_; }
    std::string data() const { return dir_ + "/data"; }
    int port() const { return port_; }
    std::string dsn(const std::string &dbname = "postgres") const {
        return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + dbname;
    }
    // Runs SQL on the standby with psql; the result's output is psql's (-At).
    ProcessResult psql(const std::string &sql) const {
        return run_command(bindir_ + "/psql -X -q -v ON_ERROR_STOP=1 -At '" + dsn() + "' -c \"" + sql + "\"");
    }

    // pg_ctl promote: the standby becomes a primary on a new timeline.
    ProcessResult promote() { return pg_ctl("-w -t 60 promote"); }
    ProcessResult stop_immediately() { return pg_ctl("-m immediate -w stop"); }
    ProcessResult start() { return pg_ctl("-o '-p " + std::to_string(port_) + "' -w -t 60 start"); }

    // The port of the harness's cluster, from its DSN (test_dsn()); 0 if it names none.
    static int harness_port() {
        std::smatch m;
        const std::string dsn = test_dsn();
        if (std::regex_search(dsn, m, std::regex(R"(port=(\d+))")))
            return std::stoi(m[1]);
        return 0;
    }

  private:
    static std::string as_pg() { return geteuid() == 0 ? "runuser -u postgres -- " : ""; }
    ProcessResult pg_ctl(const std::string &args) {
        return run_command(as_pg() + bindir_ + "/pg_ctl -D " + data() + " -l " + dir_ + "/server.log " +
                           args);
    }
    std::string bindir_, dir_, error_;
    int port_ = 0;
};

} // namespace vigil::test
