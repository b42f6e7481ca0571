// test_support.hpp — helpers shared by the GoogleTest suites.
#pragma once

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "db.hpp"

namespace vigil::test {

// The whole contents of a file ("" when it cannot be read).
inline std::string read_file(const std::string &path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// What a finished process printed (stdout and stderr together) and its exit status.
struct ProcessResult {
    int exit_code;
    std::string output;
};

// Runs a shell command line, capturing stdout and stderr.
inline ProcessResult run_command(const std::string &command_line) {
    ProcessResult result{-1, {}};
    FILE *pipe = popen((command_line + " 2>&1").c_str(), "r");
    if (!pipe)
        return result;
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0)
        result.output.append(buf.data(), n);
    const int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// Runs vigild with the given arguments (a shell-quoted string).
inline ProcessResult run_vigild(const std::string &args, const std::string &env_prefix = "") {
    return run_command(env_prefix + " " + VIGILD_BINARY + " " + args);
}

// Writes text to a fresh temporary file and returns its path.
inline std::string write_temp_file(const std::string &text, const std::string &suffix = ".toml") {
    std::string path = ::testing::TempDir() + "vigil_test_XXXXXX" + suffix;
    std::vector<char> tmpl(path.begin(), path.end());
    tmpl.push_back('\0');
    const int fd = mkstemps(tmpl.data(), static_cast<int>(suffix.size()));
    if (fd < 0)
        throw std::runtime_error("mkstemps failed");
    close(fd);
    path = tmpl.data();
    std::ofstream(path) << text;
    return path;
}

// The DSN of the cluster the test harness started; integration tests need it.
inline std::string test_dsn() {
    const char *dsn = std::getenv("VIGIL_TEST_DSN");
    if (!dsn)
        throw std::runtime_error("VIGIL_TEST_DSN is not set: run integration tests through `make test` or "
                                 "`test/harness/with_cluster.sh -- ctest`");
    return dsn;
}

// Waits up to `seconds` for a query to return "t" on `conn`, asking every 100 ms.
inline bool wait_until(db::Connection &conn, const std::string &sql, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(int(seconds * 1000));
    while (std::chrono::steady_clock::now() < deadline) {
        if (conn.scalar(sql) == "t")
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

} // namespace vigil::test
