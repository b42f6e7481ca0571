// vigil::core pgbouncer.ini writer: the text vigil.pgbouncer_config() returns, and the values it
// refuses because pgbouncer could not read them back as written.
#include <gtest/gtest.h>

#include "pgbouncer_ini.hpp"

#include <string>
#include <vector>

using namespace vigil::core;

namespace {

PgbouncerSettings settings(const std::string &database = "postgres") {
    PgbouncerSettings s;
    s.database = database;
    s.host = "127.0.0.1";
    s.port = 5432;
    s.pool_size = 20;
    s.pool_mode = "transaction";
    s.max_client_conn = 1000;
    s.available_connections = 97;
    return s;
}

// The IniError a call throws; fails the test when it throws nothing.
template <typename Fn> IniError error_of(Fn &&fn) {
    try {
        fn();
    } catch (const IniError &e) {
        return e;
    }
    ADD_FAILURE() << "no IniError thrown";
    return IniError("", "");
}

// Every line of text, without its line feed.
std::vector<std::string> lines(const std::string &text) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
        out.push_back(text.substr(start, nl - start));
    if (start < text.size())
        out.push_back(text.substr(start));
    return out;
}

} // namespace

TEST(ExtensionPgbouncerIni, AnOrdinaryDatabaseGetsTheDocumentedSection) {
    EXPECT_EQ(pgbouncer_ini(settings()), "; pgbouncer.ini for database postgres (vigil.pgbouncer_config)\n"
                                         "[databases]\n"
                                         "postgres = host=127.0.0.1 port=5432 dbname=postgres\n"
                                         "\n"
                                         "[pgbouncer]\n"
                                         "pool_mode = transaction\n"
                                         "default_pool_size = 20\n"
                                         "reserve_pool_size = 4\n"
                                         "reserve_pool_timeout = 3\n"
                                         "max_db_connections = 24\n"
                                         "max_client_conn = 1000\n");
}

TEST(ExtensionPgbouncerIni, TheReserveIsAFifthRoundedUpAndAtLeastOne) {
    PgbouncerSettings s = settings();
    s.pool_size = 1;
    EXPECT_NE(
        pgbouncer_ini(s).find("reserve_pool_size = 1\nreserve_pool_timeout = 3\nmax_db_connections = 2\n"),
        std::string::npos);
    s.pool_size = 21;
    EXPECT_NE(pgbouncer_ini(s).find("reserve_pool_size = 5\n"), std::string::npos);
}

TEST(ExtensionPgbouncerIni, SessionModeResetsServerConnections) {
    PgbouncerSettings s = settings();
    s.pool_mode = "session";
    const std::string ini = pgbouncer_ini(s);
    EXPECT_NE(ini.find("pool_mode = session\n"), std::string::npos);
    EXPECT_NE(ini.find("max_client_conn = 1000\nserver_reset_query = DISCARD ALL\n"), std::string::npos);
}

TEST(ExtensionPgbouncerIni, APoolBeyondTheServerSlotsIsAWarningComment) {
    PgbouncerSettings s = settings();
    s.pool_size = 500;
    EXPECT_NE(
        pgbouncer_ini(s).find("\n; warning: 600 server connections exceed the 97 available on this server\n"),
        std::string::npos);
}

TEST(ExtensionPgbouncerIni, SocketDirectoriesAndIpv6AddressesStayBare) {
    PgbouncerSettings s = settings();
    s.host = "/var/run/postgresql";
    EXPECT_NE(pgbouncer_ini(s).find("host=/var/run/postgresql port=5432"), std::string::npos);
    s.host = "::1";
    EXPECT_NE(pgbouncer_ini(s).find("host=::1 port=5432"), std::string::npos);
}

TEST(ExtensionPgbouncerIni, NamesOfKeyCharactersAreBareKeys) {
    EXPECT_EQ(ini_database_key("app_2024"), "app_2024");
    EXPECT_EQ(ini_database_key("my-db.v2"), "my-db.v2");
}

TEST(ExtensionPgbouncerIni, OtherNamesAreSingleQuotedKeys) {
    // pgbouncer (libusual's cfparser) reads a key in single quotes; a double-quoted key is a
    // syntax error there, whatever its documentation says.
    EXPECT_EQ(ini_database_key("my db"), "'my db'");
    EXPECT_EQ(ini_database_key("Ünïcode"), "'Ünïcode'");
    EXPECT_EQ(ini_database_key("say \"hi\""), "'say \"hi\"'");
    EXPECT_EQ(ini_database_key("a;b=c[d]"), "'a;b=c[d]'");
}

TEST(ExtensionPgbouncerIni, ConnectionStringValuesAreQuotedWhenTheyMustBe) {
    EXPECT_EQ(connstr_value("postgres", "dbname"), "postgres");
    EXPECT_EQ(connstr_value("a=b;c", "dbname"), "a=b;c") << "only a space ends a bare value";
    EXPECT_EQ(connstr_value("my db", "dbname"), "'my db'");
    EXPECT_EQ(connstr_value("it's", "dbname"), "'it''s'") << "a quote is doubled, not backslashed";
    EXPECT_EQ(connstr_value("'lead", "dbname"), "'''lead'");
    EXPECT_EQ(connstr_value("back\\slash", "dbname"), "back\\slash");
}

TEST(ExtensionPgbouncerIni, ADatabaseNameWithSpacesIsQuotedTwice) {
    const std::string ini = pgbouncer_ini(settings("sales db"));
    EXPECT_NE(ini.find("\n'sales db' = host=127.0.0.1 port=5432 dbname='sales db'\n"), std::string::npos);
    EXPECT_EQ(lines(ini)[0], "; pgbouncer.ini for database sales db (vigil.pgbouncer_config)");
}

TEST(ExtensionPgbouncerIni, AnInjectedSectionIsRefusedNotWritten) {
    // The header comment used to carry the raw name: its second line became live config.
    const IniError e = error_of([] { pgbouncer_ini(settings("x\n[pgbouncer]\nauth_type=any")); });
    EXPECT_EQ(
        std::string(e.what()),
        "the database name cannot be written to pgbouncer.ini: it contains a line feed (0x0a) at byte 2");
    EXPECT_NE(e.hint().find("rename the database"), std::string::npos);
}

TEST(ExtensionPgbouncerIni, EveryControlCharacterIsRefused) {
    for (int c = 0; c < 0x20; c++) {
        const std::string name = std::string("db") + static_cast<char>(c) + "x";
        EXPECT_THROW(pgbouncer_ini(settings(name)), IniError) << "byte " << c;
    }
    EXPECT_THROW(pgbouncer_ini(settings("db\x7fx")), IniError) << "DEL";
    const IniError e = error_of([] { pgbouncer_ini(settings("db\rauth_type = any")); });
    EXPECT_NE(std::string(e.what()).find("carriage return (0x0d) at byte 3"), std::string::npos);
}

TEST(ExtensionPgbouncerIni, AHostWithALineBreakIsRefused) {
    PgbouncerSettings s = settings();
    s.host = "/tmp\n[pgbouncer]";
    const IniError e = error_of([&] { pgbouncer_ini(s); });
    EXPECT_EQ(
        std::string(e.what()),
        "the server's host cannot be written to pgbouncer.ini: it contains a line feed (0x0a) at byte 5");
}

TEST(ExtensionPgbouncerIni, AHostWithASpaceIsQuoted) {
    PgbouncerSettings s = settings();
    s.host = "/run/my sockets";
    EXPECT_NE(pgbouncer_ini(s).find("host='/run/my sockets' port=5432"), std::string::npos);
}

TEST(ExtensionPgbouncerIni, ANameWithASingleQuoteCannotBeAKey) {
    const IniError e = error_of([] { pgbouncer_ini(settings("it's")); });
    EXPECT_EQ(
        std::string(e.what()),
        "database name \"it's\" cannot be a [databases] key in pgbouncer.ini: it contains a single quote");
    EXPECT_NE(e.hint().find("dbname='it''s'"), std::string::npos) << e.hint();
}

TEST(ExtensionPgbouncerIni, NamesPgbouncerReservesAreRefused) {
    const IniError admin = error_of([] { pgbouncer_ini(settings("pgbouncer")); });
    EXPECT_NE(std::string(admin.what()).find("its admin console"), std::string::npos);
    const IniError fallback = error_of([] { pgbouncer_ini(settings("*")); });
    EXPECT_NE(std::string(fallback.what()).find("the fallback entry"), std::string::npos);
}

TEST(ExtensionPgbouncerIni, HostileNamesNeverAddALine) {
    // Whatever the name, the text is the 11 lines of the section or an error.
    for (const std::string name :
         {"x\n[pgbouncer]\nauth_type=any", "x]\n[pgbouncer", "; comment", "[pgbouncer]", "a = b", "x' = y",
          "\"quoted\"", "tab\there", "%include /etc/passwd", "  spaces  ", "é\u2028line separator"}) {
        try {
            const std::vector<std::string> l = lines(pgbouncer_ini(settings(name)));
            ASSERT_EQ(l.size(), 11u) << name;
            EXPECT_EQ(l[1], "[databases]");
            EXPECT_EQ(l[4], "[pgbouncer]") << name;
        } catch (const IniError &) {
            SUCCEED();
        }
    }
}

TEST(ExtensionPgbouncerIni, OutOfRangeSettingsAreRefused) {
    PgbouncerSettings s = settings();
    s.pool_mode = "bogus";
    EXPECT_EQ(std::string(error_of([&] { pgbouncer_ini(s); }).what()),
              "pool_mode must be session, transaction or statement, not bogus");
    s = settings();
    s.pool_size = 0;
    EXPECT_EQ(std::string(error_of([&] { pgbouncer_ini(s); }).what()), "pool_size must be at least 1, not 0");
    s = settings();
    s.max_client_conn = 0;
    EXPECT_EQ(std::string(error_of([&] { pgbouncer_ini(s); }).what()), "max_client_conn must be at least 1");
    s = settings();
    s.host = "";
    EXPECT_THROW(pgbouncer_ini(s), IniError);
}

TEST(ExtensionPgbouncerIni, HugePoolsDoNotOverflow) {
    PgbouncerSettings s = settings();
    s.pool_size = 2147483647;
    EXPECT_NE(pgbouncer_ini(s).find("max_db_connections = 2576980377\n"), std::string::npos);
    // Past what pgbouncer reads (and where pool_size + reserve would overflow): refused.
    s.pool_size = 9223372036854775807;
    EXPECT_THROW(pgbouncer_ini(s), IniError);
    s = settings();
    s.max_client_conn = 2147483648;
    EXPECT_THROW(pgbouncer_ini(s), IniError);
}
