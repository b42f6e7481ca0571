// http.hpp — the HTTP endpoint of `vigild serve` (cpp-httplib): /metrics, /healthz, /readyz.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace httplib {
class Server;
}

namespace vigil {

// "host:port" or "[v6]:port" split; throws std::invalid_argument.
std::pair<std::string, int> parse_listen_address(const std::string &listen);

class MetricsServer {
  public:
    using RenderFn = std::function<std::string()>;
    // Returns (ready, reason).
    using ReadyFn = std::function<std::pair<bool, std::string>()>;

    MetricsServer(RenderFn render, ReadyFn ready);
    ~MetricsServer();
    // Adds more routes (the console) to the server; `setup` runs in start(), before it listens.
    void add_routes(std::function<void(httplib::Server &)> setup);
    // Binds `listen` and serves in a background thread; throws std::runtime_error when it cannot bind.
    void start(const std::string &listen);
    // Stops accepting and waits for requests in progress.
    void stop();
    const std::string &listen() const { return listen_; }

  private:
    RenderFn render_;
    ReadyFn ready_;
    std::vector<std::function<void(httplib::Server &)>> route_setups_;
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    std::string listen_;
};

} // namespace vigil
