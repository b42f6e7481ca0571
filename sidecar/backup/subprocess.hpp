// subprocess.hpp — running pg_dump, pg_restore and friends: argv (no shell), extra
// environment, stderr captured, and a stop flag that ends the child early.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <vector>

namespace vigil {

struct SubprocessResult {
    int exit_code = -1;           // -1 when killed by a signal or not started
    std::string error_output;     // stderr (the last 64 KiB)
    bool stopped = false;         // ended because `stop` was set
    std::string describe() const; // "exit code 1: <first stderr line>"
};

// Runs argv[0] (looked up in PATH) with argv, the environment plus `env`, stdout to
// `stdout_path` (or /dev/null when empty). When `stop` becomes true the child gets SIGTERM; so it
// does when the calling thread (which waits for it) dies, with vigild killed by SIGKILL.
SubprocessResult run_subprocess(const std::vector<std::string> &argv,
                                const std::map<std::string, std::string> &env = {},
                                const std::string &stdout_path = "", const std::atomic<bool> *stop = nullptr);

// The full path of a PostgreSQL client program: `bindir`/name when bindir is set, else the
// PostgreSQL 15 bindir when it has one, else the bare name (PATH).
std::string pg_program(const std::string &bindir, const std::string &name);

} // namespace vigil
