// http.hpp — the HTTP endpoint of `vigild serve` (cpp-httplib): /metrics, /probe?target=,
// /healthz, /readyz, and whatever routes serve adds (the console).
#pragma once

#include <functional>
#include <memory>
#include <optional>
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

    // The body of /probe?target=NAME; nullopt for a target that is not in the fleet (404).
    using ProbeFn = std::function<std::optional<std::string>(const std::string &target)>;
    // Adds routes to the server before it listens.
    using RoutesFn = std::function<void(httplib::Server &)>;

    MetricsServer(RenderFn render, ReadyFn ready, ProbeFn probe = {});
    ~MetricsServer();
    // Binds `listen` and serves in a background thread; throws std::runtime_error when it cannot bind.
    void start(const std::string &listen);
    // Registers more routes (called with the server in start(), before it listens); call before
    // start(). Routes it adds beside /metrics, /probe, /healthz and /readyz are served as given.
    void add_routes(RoutesFn setup);
    // Stops accepting and waits for requests in progress.
    void stop();
    const std::string &listen() const { return listen_; }

  private:
    RenderFn render_;
    ReadyFn ready_;
    ProbeFn probe_;
    std::vector<RoutesFn> routes_;
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    std::string listen_;
};

} // namespace vigil
