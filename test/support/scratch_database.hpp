// scratch_database.hpp — a database of a test's own on the harness's cluster, and optionally a
// monitoring role for it (LOGIN, member of pg_monitor, as docs/daemon.md sets one up), both
// dropped however the test ends (the database with its sessions).
//
//     vigil::test::ScratchDatabase db("vigil_pipeline", vigil::test::ScratchDatabase::kMonitorRole);
//     db.dsn();       // the harness's DSN with dbname=vigil_pipeline_<pid>
//     db.role_dsn();  // the same as the role vigil_pipeline_<pid>_role
#pragma once

#include <string>
#include <unistd.h>

#include <gtest/gtest.h>

#include "db.hpp"
#include "test_support.hpp"

namespace vigil::test {

class ScratchDatabase {
  public:
    static constexpr bool kMonitorRole = true;

    // The database `prefix`_<pid>, made afresh (one a crashed run left is dropped first).
    explicit ScratchDatabase(const std::string &prefix, bool monitor_role = false)
        : admin_(db::Connection::open(test_dsn())), name_(prefix + "_" + std::to_string(getpid())) {
        admin_.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
        admin_.exec("CREATE DATABASE " + name_);
        if (monitor_role) {
            role_ = name_ + "_role";
            admin_.exec("DROP ROLE IF EXISTS " + role_);
            admin_.exec("CREATE ROLE " + role_ + " LOGIN IN ROLE pg_monitor");
        }
    }
    ~ScratchDatabase() {
        try {
            admin_.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
            if (!role_.empty())
                admin_.exec("DROP ROLE IF EXISTS " + role_);
        } catch (const std::exception &e) {
            ADD_FAILURE() << "could not drop " << name_ << ": " << e.what();
        }
    }
    ScratchDatabase(const ScratchDatabase &) = delete;
    ScratchDatabase &operator=(const ScratchDatabase &) = delete;

    const std::string &name() const { return name_; }
    const std::string &role() const { return role_; }
    std::string dsn() const { return test_dsn() + " dbname=" + name_; }
    std::string role_dsn() const { return dsn() + " user=" + role_; }

  private:
    db::Connection admin_;
    std::string name_, role_;
};

} // namespace vigil::test
