// The PostgreSQL statistics families of `vigild serve`: how the poll's rows become metrics, the
// health-check values read back from their text, and statement texts made into labels.
#include <cmath>

#include <gtest/gtest.h>

#include "metrics/daemon_metrics.hpp"
#include "prom_parser.hpp"
#include "value_format.hpp"

using namespace vigil;

namespace {

test::PromExposition render(const std::shared_ptr<HealthSnapshot> &health) {
    DaemonMetricsInput in;
    in.health = health;
    return test::parse_prometheus(render_daemon_metrics(in));
}

std::shared_ptr<HealthSnapshot> up() {
    auto h = std::make_shared<HealthSnapshot>();
    h->polled = h->up = true;
    h->database = "app";
    return h;
}

} // namespace

TEST(HealthCheckNumber, ReadsEveryUnitTheExtensionWritesInBaseUnits) {
    EXPECT_EQ(health_check_number("73.2%"), 0.732);
    EXPECT_EQ(health_check_number("0%"), 0);
    EXPECT_EQ(health_check_number("0 ms"), 0);
    EXPECT_EQ(health_check_number("250 ms"), 0.25);
    EXPECT_EQ(health_check_number("1.5 s"), 1.5);
    EXPECT_EQ(health_check_number("2.5 min"), 150);
    EXPECT_EQ(health_check_number("1.1 h"), 1.1 * 3600);
    EXPECT_EQ(health_check_number("232 bytes"), 232);
    EXPECT_EQ(health_check_number("12 kB"), 12 * 1024);
    EXPECT_EQ(health_check_number("30 MB"), 30 * 1024 * 1024);
    EXPECT_EQ(health_check_number("11 GB"), 11 * 1024.0 * 1024 * 1024);
    EXPECT_EQ(health_check_number("3"), 3);
    EXPECT_EQ(health_check_number("5e-08"), 5e-08); // a factor of %.3g
}

TEST(HealthCheckNumber, RoundTripsTheExtensionsFormatterToItsPrecision) {
    // The parser follows extension/core/value_format.cpp: whatever that writes reads back.
    for (double f : {0.0, 0.003, 0.5, 0.958, 1.0})
        EXPECT_NEAR(*health_check_number(core::format_percent(f)), f, 0.0005) << core::format_percent(f);
    for (double ms : {0.0, 12.0, 999.0, 1500.0, 90e3, 600e3, 7200e3, 90000e3})
        EXPECT_NEAR(*health_check_number(core::format_duration_ms(ms)), ms / 1000, ms / 1000 * 0.03 + 0.001)
            << core::format_duration_ms(ms);
    for (double b : {0.0, 232.0, 20e3, 50e6, 20e9, 5e12})
        EXPECT_NEAR(*health_check_number(core::format_bytes(b)), b, b * 0.05) << core::format_bytes(b);
    for (double n : {0.0, 7.0, 12345.0})
        EXPECT_EQ(health_check_number(core::format_count(n)), n);
    for (double x : {0.0, 5.3e-06, 1.5, 42.0})
        EXPECT_NEAR(*health_check_number(core::format_factor(x)), x, x * 0.005) << core::format_factor(x);
}

TEST(HealthCheckNumber, IsAbsentForTextThatIsNotANumber) {
    for (const char *text : {"", "n/a", "ok", "12 parsecs", "12 %%", " 3", "nan", "inf", "-", "%", "3 s ago"})
        EXPECT_EQ(health_check_number(text), std::nullopt) << text;
}

TEST(ShortStatementText, CollapsesWhitespaceAndCutsAtSixtyCharacters) {
    EXPECT_EQ(short_statement_text("  SELECT *\n\tFROM   t\r\n WHERE id = $1  "),
              "SELECT * FROM t WHERE id = $1");
    const std::string long_query = "SELECT " + std::string(200, 'x');
    EXPECT_EQ(short_statement_text(long_query), long_query.substr(0, 60));
    EXPECT_EQ(short_statement_text("SELECT 1", 3), "SEL");
    EXPECT_EQ(short_statement_text(""), "");
}

TEST(ShortStatementText, CountsCharactersNotBytesAndNeverSplitsOne) {
    // 'é' is two bytes, '€' three, '𝄞' four: 60 characters of each stay whole.
    for (const std::string ch : {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9D\x84\x9E"}) {
        std::string text;
        for (int i = 0; i < 100; ++i)
            text += ch;
        const std::string cut = short_statement_text(text);
        EXPECT_EQ(cut.size(), 60 * ch.size());
        EXPECT_EQ(cut, text.substr(0, 60 * ch.size()));
    }
}

TEST(ShortStatementText, ReplacesBytesThatAreNotUtf8) {
    const std::string replacement = "\xEF\xBF\xBD";
    EXPECT_EQ(short_statement_text("a\xFF"
                                   "b"),
              "a" + replacement + "b");
    EXPECT_EQ(short_statement_text("a\xC3"), "a" + replacement);                              // cut sequence
    EXPECT_EQ(short_statement_text("\xC0\xAF"), replacement + replacement);                   // overlong '/'
    EXPECT_EQ(short_statement_text("\xED\xA0\x80"), replacement + replacement + replacement); // surrogate
}

TEST(StatisticsFamilies, EachRowBecomesOneSamplePerColumnItHas) {
    auto h = up();
    h->database_stats = std::vector<StatRow>{
        {{{"database", "app"}},
         {{"xact_commit", 10}, {"blks_hit", 90}, {"blks_read", 10}, {"blk_read_seconds", 1.5}}},
        {{{"database", "other \"db\""}}, {{"xact_commit", 3}, {"checksum_failures", 0}}}};
    const auto e = render(h);
    EXPECT_EQ(e.value("vigil_database_transactions_committed_total", {{"database", "app"}}), 10);
    EXPECT_EQ(e.value("vigil_database_transactions_committed_total", {{"database", "other \"db\""}}), 3);
    EXPECT_EQ(e.value("vigil_database_block_read_seconds_total", {{"database", "app"}}), 1.5);
    // A NULL column (checksum_failures without data checksums) has no sample; the family is there.
    EXPECT_EQ(e.count("vigil_database_checksum_failures_total"), 1u);
    EXPECT_EQ(e.families.at("vigil_database_checksum_failures_total").type, "counter");
    EXPECT_EQ(e.count("vigil_database_tuples_inserted_total"), 0u);
    EXPECT_TRUE(e.families.count("vigil_database_tuples_inserted_total"));
    for (const auto &[name, fam] : e.families) {
        EXPECT_FALSE(fam.help.empty()) << name;
        if (fam.type == "counter") {
            EXPECT_EQ(name.substr(name.size() - 6), "_total") << name;
        }
    }
}

TEST(StatisticsFamilies, AViewWhoseQueryFailedIsLeftOutNotZero) {
    auto h = up();
    h->wal = StatRow{{}, {{"wal_bytes", 4096}, {"lsn_bytes", 1e9}}};
    const auto e = render(h);
    EXPECT_EQ(e.value("vigil_wal_bytes_total"), 4096);
    EXPECT_EQ(e.value("vigil_wal_lsn_bytes"), 1e9);
    for (const char *absent : {"vigil_database_transactions_committed_total", "vigil_checkpoints_timed_total",
                               "vigil_archiver_failed_total", "vigil_replication_slot_active",
                               "vigil_table_size_bytes", "vigil_statement_calls_total"})
        EXPECT_FALSE(e.families.count(absent)) << absent;
    // The database down: none of them, whatever the last snapshot held.
    h->up = false;
    EXPECT_FALSE(render(h).families.count("vigil_wal_bytes_total"));
}

TEST(StatisticsFamilies, ASlotsWalStatusIsOneSeriesPerStateWithTheCurrentOneAtOne) {
    auto h = up();
    h->replication_slots =
        std::vector<StatRow>{{{{"slot", "standby_1"}, {"slot_type", "physical"}},
                              {{"active", 0},
                               {"retained_bytes", 232},
                               {"wal_status_reserved", 0},
                               {"wal_status_extended", 1},
                               {"wal_status_unreserved", 0},
                               {"wal_status_lost", 0}}},
                             {{{"slot", "never_used"}, {"slot_type", "logical"}}, {{"active", 0}}}};
    const auto e = render(h);
    EXPECT_EQ(e.value("vigil_replication_slot_retained_bytes", {{"slot", "standby_1"}}), 232);
    EXPECT_EQ(
        e.value("vigil_replication_slot_wal_status", {{"slot", "standby_1"}, {"wal_status", "extended"}}), 1);
    EXPECT_EQ(
        e.value("vigil_replication_slot_wal_status", {{"slot", "standby_1"}, {"wal_status", "reserved"}}), 0);
    EXPECT_EQ(e.count("vigil_replication_slot_wal_status"), 4u); // none for the slot without WAL
    EXPECT_EQ(e.value("vigil_replication_slot_active", {{"slot", "never_used"}, {"slot_type", "logical"}}),
              0);
    EXPECT_FALSE(e.value("vigil_replication_slot_retained_bytes", {{"slot", "never_used"}}).has_value());
}

TEST(StatisticsFamilies, TablesAndStatementsCarryTheirLabelsEscaped) {
    auto h = up();
    h->tables =
        std::vector<StatRow>{{{{"schema", "public"}, {"table", "Odd \"name\""}}, {{"n_dead_tup", 7}}}};
    h->statements = std::vector<StatRow>{
        {{{"queryid", "-42"}, {"query", short_statement_text("SELECT '\\\\'\n, \"x\" FROM t")}},
         {{"seconds", 2.5}}}};
    const auto e = render(h);
    EXPECT_EQ(e.value("vigil_table_dead_tuples", {{"table", "Odd \"name\""}}), 7);
    EXPECT_EQ(e.value("vigil_statement_seconds_total",
                      {{"queryid", "-42"}, {"query", "SELECT '\\\\' , \"x\" FROM t"}}),
              2.5);
}

TEST(StatisticsFamilies, HealthCheckValueIsExportedOnlyWhereTheValueIsANumber) {
    auto h = up();
    h->checks = {{"connections", "ok", 0, "0.3%", "", "", ""},
                 {"lock_waits", "ok", 0, "12 s", "", "", ""},
                 {"cache_hit_ratio", "unknown", 3, "", "", "", ""}};
    const auto e = render(h);
    EXPECT_EQ(e.value("vigil_health_check_value", {{"check", "connections"}}), 0.003);
    EXPECT_EQ(e.value("vigil_health_check_value", {{"check", "lock_waits"}}), 12);
    EXPECT_EQ(e.count("vigil_health_check_value"), 2u);
    EXPECT_EQ(e.count("vigil_health_check_status"), 3u);
}

TEST(StatisticsFamilies, TheTopNSettingsAreBoundedAndZeroTurnsAFamilyOff) {
    const Config c = parse_config("[metrics]\ntop_tables = 0\ntop_statements = 1000\n", "t");
    EXPECT_EQ(PollLimits::from_config(c.metrics).top_tables, 0);
    EXPECT_EQ(PollLimits::from_config(c.metrics).top_statements, 1000);
    EXPECT_EQ(PollLimits::from_config(Config{}.metrics).top_tables, 20);
    for (const char *bad : {"top_tables = -1", "top_tables = 1001", "top_statements = \"20\""})
        EXPECT_THROW(parse_config(std::string("[metrics]\n") + bad + "\n", "t"), ConfigError) << bad;
}
