// standby.hpp — a streaming standby of a test's primary (pg_basebackup -R -X stream), for the
// tests of replication, read routing and failover; its directory, port and stop are
// TestServer's (test_server.hpp).
#pragma once

#include <regex>
#include <string>

#include "test_server.hpp"

namespace vigil::test {

class Standby : public TestServer {
  public:
    // A standby of the primary on 127.0.0.1:`primary_port` (0: the harness's cluster). ok() says
    // whether it is running; error() says why not.
    explicit Standby(const std::string &name = "standby", int primary_port = 0) {
        if (!prepare(name))
            return;
        if (primary_port == 0)
            primary_port = harness_port();
        if (primary_port == 0) {
            error_ = "no primary port: the harness's DSN names none";
            return;
        }
        const auto backup = run_command(as_pg() + bindir_ + "/pg_basebackup -D " + data() +
                                        " -R -X stream -c fast -h 127.0.0.1 -p " +
                                        std::to_string(primary_port) + " -U postgres");
        if (backup.exit_code != 0) {
            error_ = "pg_basebackup: " + backup.output;
            return;
        }
        start_on_free_port();
    }

    // Runs SQL on the standby with psql; the result's output is psql's (-At).
    ProcessResult psql(const std::string &sql) const {
        return run_command(bindir_ + "/psql -X -q -v ON_ERROR_STOP=1 -At '" + dsn() + "' -c \"" + sql + "\"");
    }

    // pg_ctl promote: the standby becomes a primary on a new timeline.
    ProcessResult promote() { return pg_ctl("-w -t 60 promote"); }

    // The port of the harness's cluster, from its DSN (test_dsn()); 0 if it names none.
    static int harness_port() {
        std::smatch m;
        const std::string dsn = test_dsn();
        if (std::regex_search(dsn, m, std::regex(R"(port=(\d+))")))
            return std::stoi(m[1]);
        return 0;
    }
};

} // namespace vigil::test
