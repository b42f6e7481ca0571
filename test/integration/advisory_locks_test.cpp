// The sidecar's side of advisory locks and optimistic updates, against a real cluster: vigild's
// vigil::lock_key() names the same lock as the extension's vigil.lock_key(), a timed wait from
// one connection really waits for a lock another connection holds, and optimistic_update works
// through bound libpq parameters with the signature vigild's workloads use.
#include <gtest/gtest.h>

#include "db.hpp"
#include "lock_key.hpp"
#include "lock_key_vectors.hpp"
#include "test_support.hpp"

#include <chrono>
#include <string>

using namespace vigil;

namespace {

db::Connection connect() {
    db::Connection conn = db::Connection::open(test::test_dsn());
    conn.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
    return conn;
}

} // namespace

TEST(AdvisoryLocks, SidecarAndExtensionComputeTheSameKeys) {
    db::Connection conn = connect();
    const auto vectors = test::lock_key_vectors();
    ASSERT_FALSE(vectors.empty());
    for (const auto &v : vectors)
        EXPECT_EQ(conn.scalar("SELECT vigil.lock_key($1)", {v.name}), std::to_string(lock_key(v.name)))
            << "name: " << v.name;
}

TEST(AdvisoryLocks, KeyFromTheSidecarLocksTheNamedLock) {
    db::Connection holder = connect();
    db::Connection other = connect();
    const std::string name = "integration:report";
    const std::string key = std::to_string(lock_key(name));
    holder.exec_params("SELECT pg_advisory_lock($1::bigint)", {key});
    EXPECT_EQ(other.scalar("SELECT vigil.advisory_lock($1::text, '0')", {name}), "f");

    // A timed request from another connection waits for the whole timeout, then returns false.
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(other.scalar("SELECT vigil.advisory_lock($1::text, '300 ms')", {name}), "f");
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(300));

    EXPECT_EQ(holder.scalar("SELECT vigil.advisory_unlock($1::text)", {name}), "t");
    EXPECT_EQ(other.scalar("SELECT vigil.advisory_lock($1::bigint, '1 s')", {key}), "t");
    EXPECT_EQ(other.scalar("SELECT vigil.advisory_unlock($1::text)", {name}), "t");
}

TEST(OptimisticUpdate, WorksThroughBoundParameters) {
    db::Connection conn = connect();
    conn.exec("DROP TABLE IF EXISTS it_optimistic");
    conn.exec("CREATE TABLE it_optimistic (id bigint PRIMARY KEY, name text NOT NULL)");
    conn.exec("INSERT INTO it_optimistic VALUES (1, 'one')");
    conn.exec_params("SELECT vigil.enable_versioning($1::regclass)", {std::string("it_optimistic")});

    const std::string sql = "SELECT status, new_version, current_version "
                            "FROM vigil.optimistic_update($1::regclass, $2::jsonb, $3::bigint, $4::jsonb)";
    db::Result ok = conn.exec_params(sql, {"it_optimistic", R"({"id": 1})", "1", R"({"name": "it's; --"})"});
    EXPECT_EQ(ok.value(0, 0), "updated");
    EXPECT_EQ(ok.value(0, 1), "2");
    db::Result stale = conn.exec_params(sql, {"it_optimistic", R"({"id": 1})", "1", R"({"name": "lost"})"});
    EXPECT_EQ(stale.value(0, 0), "conflict");
    EXPECT_TRUE(stale.is_null(0, 1));
    EXPECT_EQ(stale.value(0, 2), "2");
    EXPECT_EQ(conn.scalar("SELECT name FROM it_optimistic WHERE id = 1"), "it's; --");

    try {
        conn.exec_params(sql, {"it_optimistic", R"({"id": 1})", "2", R"({"nope": 1})"});
        FAIL() << "an unknown column did not raise";
    } catch (const db::DbError &e) {
        EXPECT_EQ(e.sqlstate(), "42703");
    }
    conn.exec("DROP TABLE it_optimistic");
}
