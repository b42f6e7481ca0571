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

#include "test_server.hpp"

namespace vigil::test {

class OwnCluster : public TestServer {
  public:
    // Initialises and starts a cluster; ok() says whether it worked (error() says why not).
    explicit OwnCluster(const std::string &name) {
        if (!prepare(name))
            return;
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
        start_on_free_port();
    }
    // A frozen server is thawed first, so that TestServer's destructor can stop it.
    ~OwnCluster() { thaw(); }

    std::string psql(const std::string &sql, const std::string &dbname = "postgres") const {
        return bindir_ + "/psql -X -q -v ON_ERROR_STOP=1 -At '" + dsn(dbname) + "' -c \"" + sql + "\"";
    }

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

    std::vector<pid_t> frozen_;
};

} // namespace vigil::test
