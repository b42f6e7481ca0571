// own_cluster.hpp — a PostgreSQL cluster of a test's own, for the tests that stop, freeze or
// restart their server (test/integration/faults_test.cpp): initialised under the harness's cluster
// directory ($VIGIL_TEST_CLUSTER_DIR, removed by the harness however the run ends), run as the
// `postgres` user when the test runs as root, on a free loopback port, and stopped (thawed first
// if frozen) and removed by the destructor. Every process it signals is found by its own data
// directory: the postmaster by postmaster.pid, the backends as that postmaster's children.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "daemon_process.hpp"
#include "test_support.hpp"

namespace vigil::test {

class OwnCluster {
  public:
    // Initialises and starts a cluster; ok() says whether it worked (error() says why not).
    explicit OwnCluster(const std::string &name) {
        const char *bindir = std::getenv("VIGIL_TEST_PG_BINDIR");
        const char *parent = std::getenv("VIGIL_TEST_CLUSTER_DIR");
        if (!bindir || !parent) {
            error_ = "needs VIGIL_TEST_PG_BINDIR and VIGIL_TEST_CLUSTER_DIR (test/harness/with_cluster.sh)";
            return;
        }
        bindir_ = bindir;
        dir_ = std::string(parent) + "/" + name + "_" + std::to_string(getpid());
        run_command("rm -rf " + dir_);
        run_command("mkdir -p " + dir_ + (geteuid() == 0 ? " && chown postgres: " + dir_ : ""));
        const auto init = run_command(as_pg() + bindir_ + "/initdb -D " + data() +
                                      " -U postgres -A trust -E UTF8 --locale=C.UTF-8 -N");
        if (init.exit_code != 0) {
            error_ = "initdb: " + init.output;
            return;
        }
        const auto conf =
            run_command("printf \"%s\\n\" \"listen_addresses = '127.0.0.1'\" \"unix_socket_directories = ''\""
                        " \"fsync = off\" \"synchronous_commit = off\" \"full_page_writes = off\""
                        " \"log_min_messages = warning\" >> " +
                        data() + "/postgresql.conf");
        if (conf.exit_code != 0) {
            error_ = conf.output;
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
    ~OwnCluster() {
        if (dir_.empty())
            return;
        thaw();
        pg_ctl("-m immediate -w stop");
        run_command("rm -rf " + dir_);
    }
    OwnCluster(const OwnCluster &) = delete;
    OwnCluster &operator=(const OwnCluster &) = delete;

    bool ok() const { return port_ != 0; }
    const std::string &error() const { return error_; }
    const std::string &dir() const { return dir_; }
    std::string data() const { return dir_ + "/data"; }
    int port() const { return port_; }
    std::string dsn(const std::string &dbname = "postgres") const {
        return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + dbname;
    }
    std::string psql(const std::string &sql, const std::string &dbname = "postgres") const {
        return bindir_ + "/psql -X -q -v ON_ERROR_STOP=1 -At '" + dsn(dbname) + "' -c \"" + sql + "\"";
    }

    // pg_ctl -m immediate stop: every backend dies at once, nothing is shut down cleanly.
    ProcessResult stop_immediately() { return pg_ctl("-m immediate -w stop"); }
    // Starts it again on the same port.
    ProcessResult start() { return pg_ctl("-o '-p " + std::to_string(port_) + "' -w -t 60 start"); }

    // SIGSTOP to the postmaster, then to every child of it (backends and auxiliary processes):
    // connections are accepted by the kernel, and nothing answers.
    bool freeze() {
        const pid_t pm = postmaster_pid();
        if (pm <= 0)
            return false;
        ::kill(pm, SIGSTOP);
        frozen_ = {pm};
        for (pid_t child : children(pm)) {
            ::kill(child, SIGSTOP);
            frozen_.push_back(child);
        }
        return true;
    }
    // SIGCONT to what freeze() stopped, the children first.
    void thaw() {
        for (auto it = frozen_.rbegin(); it != frozen_.rend(); ++it)
            ::kill(*it, SIGCONT);
        frozen_.clear();
    }
    bool frozen() const { return !frozen_.empty(); }

    pid_t postmaster_pid() const {
        const std::string text = read_file(data() + "/postmaster.pid");
        return static_cast<pid_t>(std::atoi(text.c_str()));
    }

  private:
    static std::string as_pg() { return geteuid() == 0 ? "runuser -u postgres -- " : ""; }
    ProcessResult pg_ctl(const std::string &args) {
        return run_command(as_pg() + bindir_ + "/pg_ctl -D " + data() + " -l " + dir_ + "/server.log " +
                           args);
    }
    static std::vector<pid_t> children(pid_t parent) {
        std::vector<pid_t> out;
        const std::string text = run_command("pgrep -P " + std::to_string(parent)).output;
        std::size_t pos = 0;
        while (pos < text.size()) {
            const std::size_t end = text.find('\n', pos);
            const std::string line =
                text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
            if (!line.empty())
                out.push_back(static_cast<pid_t>(std::atoi(line.c_str())));
            if (end == std::string::npos)
                break;
            pos = end + 1;
        }
        return out;
    }

    std::string bindir_, dir_, error_;
    int port_ = 0;
    std::vector<pid_t> frozen_;
};

} // namespace vigil::test
