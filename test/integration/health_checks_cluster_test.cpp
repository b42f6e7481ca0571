// Health checks that need a cluster of their own or a server in a particular state:
// vigil.verify_indexes() finding an index corrupted on disk (bytes overwritten in its leaf page
// while the cluster is stopped), checksum_failures on a cluster with data checksums, archiving
// with archive_mode on (failing, then recovered), autovacuum_queue showing a running vacuum's
// progress (and, to a role without pg_monitor, the table it works on), and replication_lag
// unknown to a role that cannot see the standbys.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "db.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

constexpr int kBlockSize = 8192;

std::string env(const char *name) {
    const char *v = std::getenv(name);
    if (!v)
        throw std::runtime_error(std::string(name) + " is not set: run through test/harness/with_cluster.sh");
    return v;
}

// Prefix that runs a server tool as the postgres OS user when we are root (as the harness does).
std::string as_pg() {
    return geteuid() == 0 ? "runuser -u postgres -- " : "";
}

// A loopback TCP port nobody listens on right now.
int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
        close(fd);
        throw std::runtime_error("no free port");
    }
    close(fd);
    return ntohs(addr.sin_port);
}

using test::wait_until;

// One check's status and detail.
struct Check {
    std::string status, detail;
};
Check health_check(db::Connection &conn, const std::string &name) {
    db::Result r =
        conn.exec_params("SELECT status, detail FROM vigil.health_check() WHERE check_name = $1", {name});
    return {r.value(0, 0), r.value(0, 1)};
}

// A cluster of the test's own under the harness's cluster directory, with pgvigil preloaded;
// stopped and removed however the test ends.
class OwnCluster {
  public:
    OwnCluster(const std::string &name, const std::string &initdb_options, const std::string &conf_lines)
        : dir_(env("VIGIL_TEST_CLUSTER_DIR") + "/" + name), bindir_(env("VIGIL_TEST_PG_BINDIR")) {
        test::run_command("rm -rf " + dir_);
        auto r =
            test::run_command(as_pg() + bindir_ + "/initdb -D " + dir_ + " -U postgres -A trust -E UTF8 " +
                              "--locale=C.UTF-8 -N " + initdb_options);
        if (r.exit_code != 0)
            throw std::runtime_error("initdb failed: " + r.output);
        std::ofstream(dir_ + "/postgresql.conf", std::ios::app)
            << "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\nfsync = off\n"
            << "shared_preload_libraries = 'pgvigil'\nlog_min_messages = warning\n"
            << conf_lines << "\n";
        start();
    }
    ~OwnCluster() {
        if (running_)
            test::run_command(as_pg() + bindir_ + "/pg_ctl -D " + dir_ + " -m immediate -w stop");
        test::run_command("rm -rf " + dir_);
    }

    void start() {
        port_ = free_port();
        auto r = test::run_command(as_pg() + bindir_ + "/pg_ctl -D " + dir_ + " -o '-p " +
                                   std::to_string(port_) + "' -l " + dir_ + "/server.log -w -t 60 start");
        if (r.exit_code != 0)
            throw std::runtime_error("cluster did not start: " + r.output +
                                     test::read_file(dir_ + "/server.log"));
        running_ = true;
    }
    // A clean shutdown: every dirty page is written first.
    void stop() {
        auto r = test::run_command(as_pg() + bindir_ + "/pg_ctl -D " + dir_ + " -m fast -w stop");
        if (r.exit_code != 0)
            throw std::runtime_error("cluster did not stop: " + r.output);
        running_ = false;
    }
    db::Connection connect() const {
        return db::Connection::open("host=127.0.0.1 port=" + std::to_string(port_) +
                                    " user=postgres dbname=postgres");
    }
    const std::string &dir() const { return dir_; }

  private:
    std::string dir_, bindir_;
    int port_ = 0;
    bool running_ = false;
};

// Reads block `block` of a relation file, lets `change` modify it and writes it back.
template <typename Change> void rewrite_block(const std::string &path, int block, Change change) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f) << "cannot open " << path;
    std::string page(kBlockSize, '\0');
    f.seekg(static_cast<std::streamoff>(block) * kBlockSize);
    f.read(page.data(), kBlockSize);
    ASSERT_EQ(f.gcount(), kBlockSize);
    change(page);
    f.seekp(static_cast<std::streamoff>(block) * kBlockSize);
    f.write(page.data(), kBlockSize);
    ASSERT_TRUE(f.good());
}

std::uint16_t u16(const std::string &page, int offset) {
    return static_cast<std::uint8_t>(page[offset]) | static_cast<std::uint8_t>(page[offset + 1]) << 8;
}
std::uint32_t u32(const std::string &page, int offset) {
    return u16(page, offset) | static_cast<std::uint32_t>(u16(page, offset + 2)) << 16;
}

} // namespace

TEST(VerifyIndexes, FindsAnIndexCorruptedOnDiskAndNotItsNeighbour) {
    OwnCluster cluster("verify_indexes", "", "");
    {
        db::Connection c = cluster.connect();
        c.exec("CREATE EXTENSION pgvigil; CREATE EXTENSION amcheck");
        c.exec("CREATE TABLE hc_corrupt (id int PRIMARY KEY); INSERT INTO hc_corrupt SELECT "
               "generate_series(1, 100)");
        c.exec("CREATE TABLE hc_healthy (id int PRIMARY KEY); INSERT INTO hc_healthy SELECT "
               "generate_series(1, 100)");
        db::Result before = c.exec("SELECT index::text, status FROM vigil.verify_indexes('1 min')"
                                   " WHERE index::text LIKE 'hc_%' ORDER BY 1");
        ASSERT_EQ(before.rows(), 2);
        EXPECT_EQ(before.value(0, 1), "ok");
        EXPECT_EQ(before.value(1, 1), "ok");
        EXPECT_THAT(health_check(c, "checksum_failures").detail, HasSubstr("data checksums are off"));
    }
    std::string path;
    {
        db::Connection c = cluster.connect();
        path = cluster.dir() + "/" + c.scalar("SELECT pg_relation_filepath('hc_corrupt_pkey')");
        c.exec("CHECKPOINT");
    }
    cluster.stop();
    // Block 1 is the root, a leaf with all 100 keys in order (block 0 is the metapage). The first
    // item's key becomes INT32_MAX, larger than the second's: the order amcheck checks is broken.
    rewrite_block(path, 1, [](std::string &page) {
        const int pd_lower = u16(page, 12);
        ASSERT_GT((pd_lower - 24) / 4, 2) << "a leaf page with items";
        const std::uint32_t first = u32(page, 24);
        const int lp_off = first & 0x7FFF;
        const int key = lp_off + 8; // after IndexTupleData (t_tid, t_info)
        ASSERT_EQ(u32(page, key), 1u) << "the first item holds key 1";
        page[key] = '\xff', page[key + 1] = '\xff', page[key + 2] = '\xff', page[key + 3] = '\x7f';
    });
    cluster.start();

    db::Connection c = cluster.connect();
    db::Result after = c.exec("SELECT index::text, status, detail FROM vigil.verify_indexes('1 min')"
                              " WHERE index::text LIKE 'hc_%' ORDER BY 1");
    ASSERT_EQ(after.rows(), 2);
    EXPECT_EQ(after.value(0, 0), "hc_corrupt_pkey");
    EXPECT_EQ(after.value(0, 1), "corrupt");
    EXPECT_THAT(after.value(0, 2), HasSubstr("item order invariant violated"));
    EXPECT_EQ(after.value(1, 0), "hc_healthy_pkey");
    EXPECT_EQ(after.value(1, 1), "ok");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM vigil.verify_indexes() WHERE status <> 'ok'"), "1")
        << "every other index, the catalogs' too, is fine";

    // Rebuilding the index clears it.
    c.exec("REINDEX INDEX hc_corrupt_pkey");
    EXPECT_EQ(c.scalar("SELECT status FROM vigil.verify_indexes() WHERE index = 'hc_corrupt_pkey'::regclass"),
              "ok");
}

TEST(ChecksumFailures, AreCriticalOnAClusterWithDataChecksumsUntilReset) {
    OwnCluster cluster("checksums", "--data-checksums", "");
    std::string path;
    {
        db::Connection c = cluster.connect();
        c.exec("CREATE EXTENSION pgvigil");
        c.exec("CREATE TABLE hc_checksummed (id int, v text)");
        c.exec("INSERT INTO hc_checksummed SELECT g, md5(g::text) FROM generate_series(1, 50) g");
        const Check clean = health_check(c, "checksum_failures");
        EXPECT_EQ(clean.status, "ok");
        EXPECT_THAT(clean.detail, HasSubstr("data checksums are on; 0 checksum failure(s)"));
        path = cluster.dir() + "/" + c.scalar("SELECT pg_relation_filepath('hc_checksummed')");
        c.exec("CHECKPOINT");
    }
    cluster.stop();
    // Bytes of a tuple change behind the checksum's back.
    rewrite_block(path, 0, [](std::string &page) {
        for (int i = kBlockSize - 40; i < kBlockSize - 30; i++)
            page[i] = static_cast<char>(page[i] ^ 0x5a);
    });
    cluster.start();

    db::Connection c = cluster.connect();
    try {
        c.exec("SELECT count(*) FROM hc_checksummed");
        ADD_FAILURE() << "reading the page did not fail";
    } catch (const db::DbError &e) {
        EXPECT_EQ(e.sqlstate(), "XX001") << e.what();
    }
    ASSERT_TRUE(wait_until(
        c, "SELECT checksum_failures > 0 FROM pg_stat_database WHERE datname = current_database()", 10));
    const Check failed = health_check(c, "checksum_failures");
    EXPECT_EQ(failed.status, "critical");
    EXPECT_THAT(failed.detail,
                HasSubstr("data checksums are on; 1 checksum failure(s) in database postgres"));
    EXPECT_THAT(failed.detail, HasSubstr(", last at "));

    c.exec("SELECT pg_stat_reset()");
    EXPECT_EQ(health_check(c, "checksum_failures").status, "ok");
}

TEST(Archiving, WarnsWhileArchivingFailsAndClearsOnceItSucceeds) {
    OwnCluster cluster("archiving", "", "archive_mode = on\narchive_command = 'false'");
    db::Connection c = cluster.connect();
    c.exec("CREATE EXTENSION pgvigil");
    c.exec("CREATE TABLE hc_wal AS SELECT generate_series(1, 1000) AS g");
    c.exec("SELECT pg_switch_wal()");
    ASSERT_TRUE(wait_until(c, "SELECT failed_count > 0 FROM pg_stat_archiver", 30));

    const Check failing = health_check(c, "archiving");
    EXPECT_EQ(failing.status, "warning") << failing.detail;
    EXPECT_THAT(failing.detail, HasSubstr("archiving fails: "));
    EXPECT_THAT(failing.detail, HasSubstr("nothing archived since"));
    EXPECT_THAT(failing.detail, HasSubstr("segment(s) waiting to be archived"));
    // The value is how long segments have waited: past a low critical threshold, critical.
    c.exec("SET vigil.archiving_critical = '10ms'");
    EXPECT_EQ(health_check(c, "archiving").status, "critical");
    c.exec("RESET vigil.archiving_critical");

    c.exec("ALTER SYSTEM SET archive_command = 'true'");
    c.exec("SELECT pg_reload_conf()");
    c.exec("SELECT pg_switch_wal()");
    ASSERT_TRUE(wait_until(c, "SELECT last_archived_time > last_failed_time FROM pg_stat_archiver", 90));
    // The segment switched to last may still be on its way: wait for none to be waiting.
    ASSERT_TRUE(
        wait_until(c, "SELECT status = 'ok' FROM vigil.health_check() WHERE check_name = 'archiving'", 30));
    const Check recovered = health_check(c, "archiving");
    EXPECT_THAT(recovered.detail, HasSubstr("last archived: "));
    EXPECT_THAT(recovered.detail, Not(HasSubstr("archiving fails")));
}

TEST(AutovacuumQueue, ShowsTheProgressOfARunningVacuumAndDoesNotQueueItsTable) {
    db::Connection c = db::Connection::open(test::test_dsn());
    c.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
    c.exec("DROP TABLE IF EXISTS hc_vacuuming");
    c.exec("CREATE TABLE hc_vacuuming (id int) WITH (autovacuum_enabled = false)");
    c.exec("INSERT INTO hc_vacuuming SELECT generate_series(1, 10000)");
    c.exec("ANALYZE hc_vacuuming");
    c.exec("DELETE FROM hc_vacuuming WHERE id <= 5000");
    c.exec("SELECT pg_stat_force_next_flush()");
    c.exec("DROP ROLE IF EXISTS hc_it_login; CREATE ROLE hc_it_login; GRANT USAGE ON SCHEMA vigil TO "
           "hc_it_login");
    EXPECT_THAT(health_check(c, "autovacuum_queue").detail, HasSubstr("hc_vacuuming with 5000 dead tuples"));

    // A cursor keeps the first page pinned; VACUUM (FREEZE) must freeze it, so it waits for the pin.
    db::Connection pinner = db::Connection::open(test::test_dsn());
    pinner.exec("BEGIN; DECLARE c CURSOR FOR SELECT * FROM hc_vacuuming; FETCH 1 FROM c");
    std::thread vacuum([] {
        db::Connection v = db::Connection::open(test::test_dsn());
        v.exec("VACUUM (FREEZE) hc_vacuuming");
    });
    const bool running = wait_until(
        c, "SELECT count(*) = 1 FROM pg_stat_progress_vacuum WHERE relid = 'hc_vacuuming'::regclass", 30);
    Check owner, login;
    if (running) {
        owner = health_check(c, "autovacuum_queue");
        c.exec("SET ROLE hc_it_login");
        login = health_check(c, "autovacuum_queue");
        c.exec("RESET ROLE");
    }
    pinner.exec("COMMIT");
    vacuum.join();
    ASSERT_TRUE(running) << "the VACUUM did not start";

    EXPECT_THAT(owner.detail, HasSubstr("vacuuming: hc_vacuuming (VACUUM, scanning heap, "));
    EXPECT_THAT(owner.detail, HasSubstr("blocks scanned, for "));
    EXPECT_THAT(owner.detail, Not(HasSubstr("hc_vacuuming with"))) << "a table being vacuumed is not waiting";
    // Without pg_read_all_stats the progress is hidden, not the table: its lock names it.
    EXPECT_THAT(login.detail, HasSubstr("hc_vacuuming (progress hidden: seeing it needs pg_read_all_stats)"));
    EXPECT_THAT(login.detail, Not(HasSubstr("hc_vacuuming with")));
    EXPECT_EQ(login.status, owner.status);

    c.exec("SELECT pg_stat_force_next_flush()");
    EXPECT_THAT(health_check(c, "autovacuum_queue").detail, Not(HasSubstr("hc_vacuuming")));
    c.exec("DROP TABLE hc_vacuuming");
    c.exec("REVOKE USAGE ON SCHEMA vigil FROM hc_it_login; DROP ROLE hc_it_login");
}

TEST(ReplicationLag, IsUnknownToARoleThatCannotSeeTheStandbys) {
    db::Connection c = db::Connection::open(test::test_dsn());
    c.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
    c.exec("DROP ROLE IF EXISTS hc_it_nostats; CREATE ROLE hc_it_nostats; GRANT USAGE ON SCHEMA vigil TO "
           "hc_it_nostats");
    // A replication connection is a walsender in pg_stat_replication, as a standby's is.
    db::Connection walsender(PQconnectdb((test::test_dsn() + " replication=true").c_str()));
    ASSERT_TRUE(walsender.healthy()) << walsender.error_message();
    ASSERT_TRUE(wait_until(c, "SELECT count(*) >= 1 FROM pg_stat_replication", 10));

    EXPECT_EQ(health_check(c, "replication_lag").status, "ok");
    c.exec("SET ROLE hc_it_nostats");
    const Check hidden = health_check(c, "replication_lag");
    c.exec("RESET ROLE");
    EXPECT_EQ(hidden.status, "unknown");
    EXPECT_THAT(hidden.detail, HasSubstr("hidden from role hc_it_nostats, which lacks pg_read_all_stats"));
    c.exec("SET ROLE hc_it_nostats");
    EXPECT_EQ(
        c.scalar("SELECT recommendation FROM vigil.health_check() WHERE check_name = 'replication_lag'"),
        "GRANT pg_monitor TO hc_it_nostats: it includes pg_read_all_stats, which shows every session's "
        "state, query and progress.");
    c.exec("RESET ROLE");
    c.exec("REVOKE USAGE ON SCHEMA vigil FROM hc_it_nostats; DROP ROLE hc_it_nostats");
}
