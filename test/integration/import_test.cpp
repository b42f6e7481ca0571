// `vigild import` against a real server: CSV edge cases import or fail as docs/sidecar.md says.
#include <fcntl.h>
#include <iostream>
#include <sys/stat.h>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "db.hpp"
#include "exit_codes.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;

namespace {

class Import : public ::testing::Test {
  protected:
    void SetUp() override {
        conn = db::Connection::open(test::test_dsn());
        conn.exec("SET client_min_messages = warning;"
                  "DROP TABLE IF EXISTS imp_item, imp_owner;"
                  "CREATE TABLE imp_owner (id int PRIMARY KEY);"
                  "INSERT INTO imp_owner VALUES (1), (2);"
                  "CREATE TABLE imp_item (id int PRIMARY KEY, name text NOT NULL, note text,"
                  "  qty int CHECK (qty >= 0), owner int REFERENCES imp_owner (id))");
    }

    test::ProcessResult import(const std::string &csv_text, const std::string &flags = "") {
        const std::string path = test::write_temp_file(csv_text, ".csv");
        return test::run_vigild("import --dsn '" + test::test_dsn() + "' --table imp_item --csv " + path +
                                " " + flags);
    }
    std::string rows() { return conn.scalar("SELECT count(*) FROM imp_item"); }
    static nlohmann::json json_of(const test::ProcessResult &r) {
        const auto start = r.output.find('{');
        return nlohmann::json::parse(r.output.substr(start, r.output.rfind('}') - start + 1));
    }

    db::Connection conn;
};

} // namespace

TEST_F(Import, QuotesAndEmbeddedNewlinesArriveIntact) {
    auto r = import("id,name,note,qty,owner\n"
                    "1,\"Smith, \"\"Al\"\"\",\"two\nlines\",3,1\n"
                    "2,plain,,0,2\n"
                    "3,\"\",\"\",1,\n");
    ASSERT_EQ(r.exit_code, exit_code::ok) << r.output;
    EXPECT_THAT(r.output, HasSubstr("rows read 3, imported 3, rejected 0"));
    EXPECT_EQ(conn.scalar("SELECT name FROM imp_item WHERE id = 1"), "Smith, \"Al\"");
    EXPECT_EQ(conn.scalar("SELECT note FROM imp_item WHERE id = 1"), "two\nlines");
    // PostgreSQL's CSV rules: an unquoted empty field is NULL, a quoted one is the empty string.
    EXPECT_EQ(conn.scalar("SELECT note IS NULL FROM imp_item WHERE id = 2"), "t");
    EXPECT_EQ(conn.scalar("SELECT name = '' AND note = '' AND owner IS NULL FROM imp_item WHERE id = 3"),
              "t");
}

TEST_F(Import, CrLfLineEndingsAndAByteOrderMark) {
    auto r = import("\xEF\xBB\xBFid,name\r\n1,a\r\n2,b\r\n");
    ASSERT_EQ(r.exit_code, exit_code::ok) << r.output;
    EXPECT_EQ(conn.scalar("SELECT string_agg(name, ',' ORDER BY id) FROM imp_item"), "a,b");
}

TEST_F(Import, EmptyFileImportsNothingAndSucceeds) {
    auto r = import("");
    EXPECT_EQ(r.exit_code, exit_code::ok) << r.output;
    EXPECT_THAT(r.output, HasSubstr("rows read 0, imported 0"));
    auto h = import("id,name\n");
    EXPECT_EQ(h.exit_code, exit_code::ok) << h.output;
    EXPECT_EQ(rows(), "0");
}

TEST_F(Import, WrongColumnCountAbortsEverythingNamingTheLine) {
    auto r = import("id,name,qty\n1,a,1\n2,b\n3,c,3\n");
    EXPECT_EQ(r.exit_code, exit_code::data_error) << r.output;
    EXPECT_THAT(r.output, HasSubstr("line 3: expected 3 columns, found 2"));
    EXPECT_THAT(r.output, HasSubstr("nothing was imported"));
    EXPECT_EQ(rows(), "0");
}

TEST_F(Import, InvalidUtf8NamesLineAndColumn) {
    auto r = import("id,name,note\n1,a,ok\n2,b,\"multi\nline \xC3\x28 here\"\n");
    EXPECT_EQ(r.exit_code, exit_code::data_error) << r.output;
    EXPECT_THAT(r.output, HasSubstr("line 4, column 3 (note): invalid UTF-8 (byte 0xc3"));
    EXPECT_EQ(rows(), "0");
}

TEST_F(Import, ServerSideErrorInAbortModeNamesLineAndColumn) {
    auto r = import("id,name,qty\n1,a,1\n2,\"b\nc\",x\n");
    EXPECT_EQ(r.exit_code, exit_code::data_error) << r.output;
    EXPECT_THAT(r.output, HasSubstr("line 3, column qty: invalid input syntax for type integer"));
    EXPECT_EQ(rows(), "0");
}

TEST_F(Import, ConstraintViolationsAbortTheImport) {
    for (const char *bad : {"2,dup,1,1\n", "3,neg,-1,1\n", "4,noowner,1,9\n", "5,,1,1\n"}) {
        auto r = import(std::string("id,name,qty,owner\n1,a,1,1\n2,b,1,2\n") + bad);
        EXPECT_EQ(r.exit_code, exit_code::data_error) << bad << r.output;
        EXPECT_EQ(rows(), "0") << bad;
    }
}

TEST_F(Import, SkipModeImportsGoodRowsAndRejectsBadOnesWithReasons) {
    const std::string rejects = test::write_temp_file("", ".rejects.csv");
    auto r = import("id,name,qty,owner\n"
                    "1,a,1,1\n"      // line 2 ok
                    "1,dup,1,1\n"    // line 3 unique violation
                    "3,neg,-1,1\n"   // line 4 check violation
                    "4,fk,1,99\n"    // line 5 foreign key violation
                    "5,,1,1\n"       // line 6 NOT NULL (empty unquoted = NULL)
                    "6,x,notnum,1\n" // line 7 bad integer
                    "7,short\n"      // line 8 wrong column count
                    "8,\xFF,1,1\n"   // line 9 invalid UTF-8
                    "9,ok,2,2\n",    // line 10 ok
                    "--on-error skip --reject-file " + rejects + " --json");
    ASSERT_EQ(r.exit_code, exit_code::ok) << r.output;
    const auto j = json_of(r);
    EXPECT_EQ(j["rows_read"], 9);
    EXPECT_EQ(j["imported"], 2);
    EXPECT_EQ(j["rejected"], 7);
    EXPECT_EQ(conn.scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM imp_item"), "1,9");
    const auto text = test::run_command("cat " + rejects).output;
    EXPECT_THAT(text, HasSubstr("line,error,row"));
    EXPECT_THAT(text, HasSubstr("3,\"line 3: duplicate key value violates unique constraint"));
    EXPECT_THAT(text,
                HasSubstr("4,\"line 4: new row for relation \"\"imp_item\"\" violates check constraint"));
    EXPECT_THAT(text,
                HasSubstr("5,\"line 5: insert or update on table \"\"imp_item\"\" violates foreign key"));
    EXPECT_THAT(text, HasSubstr("6,\"line 6"));
    EXPECT_THAT(text, HasSubstr("7,\"line 7, column qty: invalid input syntax for type integer"));
    EXPECT_THAT(text, HasSubstr("8,\"line 8: expected 4 columns, found 2\",\"7,short\""));
    EXPECT_THAT(text, HasSubstr("9,\"line 9, column 2 (name): invalid UTF-8"));
}

TEST_F(Import, SkipModeFindsBadRowsInsideLargeBatches) {
    std::string csv = "id,name,qty\n";
    for (int i = 1; i <= 3000; ++i)
        csv += std::to_string(i) + ",n" + std::to_string(i) + "," + (i % 1000 == 0 ? "-5" : "1") + "\n";
    const std::string rejects = test::write_temp_file("", ".rejects.csv");
    auto r = import(csv, "--on-error skip --reject-file " + rejects + " --batch-rows 1000 --json");
    ASSERT_EQ(r.exit_code, exit_code::ok) << r.output;
    EXPECT_EQ(json_of(r)["rejected"], 3);
    EXPECT_EQ(rows(), "2997");
    EXPECT_EQ(conn.scalar("SELECT count(*) FROM imp_item WHERE id % 1000 = 0"), "0");
}

TEST_F(Import, NoHeaderWithColumnsAndStandardInput) {
    const std::string path = test::write_temp_file("1,a\n2,b\n", ".csv");
    auto r = test::run_command("cat " + path + " | " + VIGILD_BINARY + " import --dsn '" + test::test_dsn() +
                               "' --table imp_item --csv - --no-header --columns id,name");
    ASSERT_EQ(r.exit_code, exit_code::ok) << r.output;
    EXPECT_EQ(rows(), "2");
}

TEST_F(Import, UsageErrorsHaveTheirOwnExitCodes) {
    EXPECT_EQ(import("id,nosuch\n1,a\n").exit_code, exit_code::data_error);
    EXPECT_THAT(import("id,nosuch\n1,a\n").output,
                HasSubstr("column \"nosuch\" named in the header does not exist"));
    EXPECT_EQ(import("id,name\n1,a\n", "--on-error skip").exit_code, exit_code::usage);
    EXPECT_EQ(
        test::run_vigild("import --dsn '" + test::test_dsn() + "' --table imp_item --csv /nonexistent.csv")
            .exit_code,
        exit_code::no_input);
    EXPECT_EQ(
        test::run_vigild("import --dsn '" + test::test_dsn() + "' --table no_such_table --csv /dev/null")
            .exit_code,
        exit_code::usage);
    EXPECT_EQ(import("id,name\n1,\"open quote\n").exit_code, exit_code::data_error);
    EXPECT_EQ(rows(), "0");
}

// A large file streamed through a FIFO from a generator: memory stays flat whatever the size.
// VIGIL_TEST_IMPORT_MB sets the size (default 32 MB in `make test`; 1024 for the 1 GB check).
TEST_F(Import, LargeStreamedFileUsesConstantMemory) {
    const char *env = std::getenv("VIGIL_TEST_IMPORT_MB");
    const long long target = (env ? std::atoll(env) : 32) * 1024 * 1024;
    conn.exec(
        "DROP TABLE IF EXISTS imp_big; CREATE UNLOGGED TABLE imp_big (id bigint, name text, note text)");
    const std::string fifo = ::testing::TempDir() + "vigil_import_fifo_" + std::to_string(getpid());
    ::unlink(fifo.c_str());
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    long long written_rows = 0;
    std::thread writer([&] {
        const int fd = ::open(fifo.c_str(), O_WRONLY);
        std::string chunk = "id,name,note\n";
        long long bytes = 0;
        const std::string note = "\"a quoted note, with a comma and \"\"quotes\"\"\"";
        while (bytes < target) {
            chunk += std::to_string(written_rows + 1) + ",name " + std::to_string(written_rows) + "," + note +
                     "\n";
            ++written_rows;
            if (chunk.size() > (1 << 16)) {
                bytes += static_cast<long long>(chunk.size());
                if (::write(fd, chunk.data(), chunk.size()) < 0)
                    break;
                chunk.clear();
            }
        }
        if (!chunk.empty() && ::write(fd, chunk.data(), chunk.size()) < 0)
            written_rows = -1;
        ::close(fd);
    });
    auto r =
        test::run_vigild("import --dsn '" + test::test_dsn() + "' --table imp_big --csv " + fifo + " --json");
    writer.join();
    ::unlink(fifo.c_str());
    ASSERT_EQ(r.exit_code, exit_code::ok) << r.output;
    const auto j = json_of(r);
    EXPECT_EQ(j["imported"].get<long long>(), written_rows);
    EXPECT_GE(j["bytes"].get<long long>(), target);
    EXPECT_LT(j["peak_memory_mb"].get<double>(), 100.0);
    std::cout << "imported " << written_rows << " rows, " << j["bytes"] << " bytes in " << j["seconds"]
              << " s; vigild peak memory " << j["peak_memory_mb"] << " MB\n";
    EXPECT_EQ(conn.scalar("SELECT count(*) FROM imp_big"), std::to_string(written_rows));
    conn.exec("DROP TABLE imp_big");
}
