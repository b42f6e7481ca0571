// daemon_process.hpp — a `vigild serve` child process and its HTTP endpoint, for the integration
// tests that run the daemon against the real cluster.
#pragma once

#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <map>
#include <netinet/in.h>
#include <optional>
#include <sys/prctl.h>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "prom_parser.hpp"

namespace vigil::test {

// Starts `argv` (argv[0] the program) with its stdout and stderr in `log_path` and `env` added
// to its environment, no shell in between; returns the child's pid. The child is killed when the
// test process ends, however it ends (a crash, CTest's timeout), so none outlives its test.
// (PR_SET_PDEATHSIG follows the thread that forks: call this from the test's own thread.)
inline pid_t spawn_logged(std::vector<std::string> argv, const std::string &log_path,
                          const std::map<std::string, std::string> &env = {}) {
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127); // the test is gone already
        const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        for (const auto &[k, v] : env)
            setenv(k.c_str(), v.c_str(), 1);
        std::vector<char *> raw;
        for (auto &a : argv)
            raw.push_back(a.data());
        raw.push_back(nullptr);
        execv(raw[0], raw.data());
        _exit(127);
    }
    return pid;
}

// A loopback port nobody listens on right now.
inline int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
}

// A configuration for `serve` on this port: the DSN, and a poll every second.
inline std::string config_text(int port, const std::string &dsn, const std::string &extra = "") {
    return "[database]\ndsn = \"" + dsn + "\"\n[metrics]\nlisten = \"127.0.0.1:" + std::to_string(port) +
           "\"\n[health]\ninterval = \"1s\"\n" + extra;
}

// A running `vigild serve`; killed if a test forgets to stop it.
class Daemon {
  public:
    Daemon(const std::string &config_path, std::vector<std::string> extra_args = {},
           std::map<std::string, std::string> env = {})
        : log_(::testing::TempDir() + "vigild_serve_" + std::to_string(getpid()) + "_" +
               std::to_string(counter_++) + ".log") {
        std::vector<std::string> args = {VIGILD_BINARY, "--config", config_path, "serve"};
        args.insert(args.end(), extra_args.begin(), extra_args.end());
        pid_ = spawn_logged(std::move(args), log_, env);
    }
    ~Daemon() {
        if (pid_ > 0 && !exited_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    void signal(int sig) const { kill(pid_, sig); }
    // Waits for the exit; returns the exit code, or -1 if it did not exit within `limit`.
    int wait_exit(std::chrono::milliseconds limit) {
        const auto until = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < until) {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                exited_ = true;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return -1;
    }
    std::string log() const {
        std::ifstream in(log_);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

  private:
    static inline int counter_ = 0;
    std::string log_;
    pid_t pid_ = -1;
    bool exited_ = false;
};

// GET of a path of the daemon's endpoint; nullopt when nothing answers.
inline std::optional<httplib::Result> get(int port, const std::string &path) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(2, 0);
    client.set_read_timeout(5, 0);
    auto res = client.Get(path);
    if (!res)
        return std::nullopt;
    return std::optional<httplib::Result>(std::move(res));
}

// Polls `condition` every 50 ms until it holds (true) or `limit` passes (false).
inline bool wait_until(const std::function<bool()> &condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(15)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (condition())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

// One /metrics scrape, parsed; throws when it fails.
inline PromExposition scrape(int port) {
    auto res = get(port, "/metrics");
    if (!res || (*res)->status != 200)
        throw std::runtime_error("scrape failed");
    EXPECT_EQ((*res)->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return parse_prometheus((*res)->body);
}

// Waits for a poll newer than the last one seen and returns that scrape.
inline PromExposition scrape_after_next_poll(int port) {
    const double before = scrape(port).value("vigil_health_poll_timestamp_seconds").value_or(0);
    PromExposition e;
    wait_until([&] {
        e = scrape(port);
        return e.value("vigil_health_poll_timestamp_seconds").value_or(0) > before;
    });
    return e;
}

} // namespace vigil::test
