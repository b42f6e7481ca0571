// history_docs_test.cpp — the sqlite3 commands of docs/history.md, run on a real store file: each
// must succeed and print what the page says it prints.
#include <algorithm>
#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>

#include "history/store.hpp"
#include "wall_clock.hpp"
#include "history_fleet.hpp"
#include "test_support.hpp"

using namespace vigil;
namespace fs = std::filesystem;

namespace {

TEST(HistoryDocs, TheSqliteCommandsOfThePageRunOnAStoreFile) {
    const fs::path dir = fs::path(::testing::TempDir()) / ("vigil_history_docs_" + std::to_string(getpid()));
    fs::remove_all(dir);
    const std::string file = (dir / "history.sqlite3").string();
    {
        history::Store store(file);
        const double now = vigil::now_epoch();
        for (int n = 0; n < 12; ++n) // the last 12 minutes: some moved to points_raw, some staged
            store.record(test::make_fleet({2, 1, 1, 1, 1, 1}, n, now - 720 + 60 * n), now - 720 + 60 * n);
    }
    ASSERT_EQ(test::run_command("command -v sqlite3").exit_code, 0)
        << "the sqlite3 CLI (test/harness/deps.sh)";

    std::istringstream page(test::read_file(VIGIL_SOURCE_DIR "/docs/history.md"));
    const std::string documented = "sqlite3 -readonly /var/lib/vigil/history.sqlite3 ";
    std::vector<std::string> outputs;
    for (std::string line; std::getline(page, line);)
        if (line.rfind(documented, 0) == 0) {
            const auto r =
                test::run_command("sqlite3 -readonly '" + file + "' " + line.substr(documented.size()));
            EXPECT_EQ(r.exit_code, 0) << line << "\n" << r.output;
            EXPECT_FALSE(r.output.empty()) << line;
            outputs.push_back(r.output);
        }
    ASSERT_EQ(outputs.size(), 5u) << "the page's commands";
    EXPECT_EQ(outputs[0], std::to_string(history::schema_version) + "\n");
    EXPECT_EQ(outputs[1], "pg0|\npg0|db0\npg1|\npg1|db0\n");
    EXPECT_EQ(std::count(outputs[2].begin(), outputs[2].end(), '\n'), 5) << outputs[2];
    EXPECT_NE(outputs[2].find("|raw\n"), std::string::npos) << outputs[2];
    EXPECT_NE(outputs[3].find("standby0|"), std::string::npos) << outputs[3];
    EXPECT_NE(outputs[4].find("raw|"), std::string::npos) << outputs[4];
    fs::remove_all(dir);
}

} // namespace
