// test_server.hpp — what every PostgreSQL server of a test's own shares (OwnCluster, Standby):
// its directory under the harness's cluster directory ($VIGIL_TEST_CLUSTER_DIR, removed by the
// harness however the run ends), owned by the `postgres` user when the test runs as root, pg_ctl
// run as that user, a free loopback port, and the destructor that stops the server by its own
// data directory (never by name) and removes the directory.
#pragma once

#include <cstdlib>
#include <string>
#include <unistd.h>

#include "daemon_process.hpp"
#include "test_support.hpp"

namespace vigil::test {

class TestServer {
  public:
    TestServer(const TestServer &) = delete;
    TestServer &operator=(const TestServer &) = delete;

    bool ok() const { return port_ != 0; }
    const std::string &error() const { return error_; }
    const std::string &dir() const { return dir_; }
    std::string data() const { return dir_ + "/data"; }
    int port() const { return port_; }
    std::string dsn(const std::string &dbname = "postgres") const {
        return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + dbname;
    }

    // pg_ctl -m immediate stop: every backend dies at once, nothing is shut down cleanly.
    ProcessResult stop_immediately() { return pg_ctl("-m immediate -w stop"); }
    // Starts it again on the same port.
    ProcessResult start() { return pg_ctl("-o '-p " + std::to_string(port_) + "' -w -t 60 start"); }

  protected:
    TestServer() = default;
    ~TestServer() {
        if (dir_.empty())
            return;
        pg_ctl("-m immediate -w stop");
        run_command("rm -rf " + dir_);
    }
    // Makes an empty directory $VIGIL_TEST_CLUSTER_DIR/<name>_<pid>; false (error() says why)
    // outside the harness.
    bool prepare(const std::string &name) {
        const char *bindir = std::getenv("VIGIL_TEST_PG_BINDIR");
        const char *parent = std::getenv("VIGIL_TEST_CLUSTER_DIR");
        if (!bindir || !parent) {
            error_ = "needs VIGIL_TEST_PG_BINDIR and VIGIL_TEST_CLUSTER_DIR (test/harness/with_cluster.sh)";
            return false;
        }
        bindir_ = bindir;
        dir_ = std::string(parent) + "/" + name + "_" + std::to_string(getpid());
        run_command("rm -rf " + dir_);
        run_command("mkdir -p " + dir_ + (geteuid() == 0 ? " && chown postgres: " + dir_ : ""));
        return true;
    }
    // Starts the server in data() on a free port (five tries, since another may take it first).
    void start_on_free_port() {
        for (int attempt = 0; attempt < 5 && port_ == 0; ++attempt) {
            const int port = free_port();
            const auto started = pg_ctl("-o '-p " + std::to_string(port) + "' -w -t 60 start");
            if (started.exit_code == 0)
                port_ = port;
            else
                error_ = started.output;
        }
    }
    static std::string as_pg() { return geteuid() == 0 ? "runuser -u postgres -- " : ""; }
    ProcessResult pg_ctl(const std::string &args) {
        return run_command(as_pg() + bindir_ + "/pg_ctl -D " + data() + " -l " + dir_ + "/server.log " +
                           args);
    }

    std::string bindir_, dir_, error_;
    int port_ = 0;
};

} // namespace vigil::test
