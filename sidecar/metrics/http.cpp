// http.cpp — serving the exposition text and the probes.
#include "metrics/http.hpp"

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "config.hpp"
#include "metrics/exposition.hpp"

namespace vigil {

std::pair<std::string, int> parse_listen_address(const std::string &listen) {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
        throw std::invalid_argument("metrics.listen must be host:port, got \"" + listen + "\"");
    std::string host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    int port = -1;
    try {
        std::size_t used = 0;
        port = std::stoi(listen.substr(colon + 1), &used);
        if (used != listen.size() - colon - 1)
            port = -1;
    } catch (const std::exception &) {
    }
    if (port < 0 || port > 65535)
        throw std::invalid_argument("metrics.listen: bad port in \"" + listen + "\"");
    return {host, port};
}

MetricsServer::MetricsServer(RenderFn render, ReadyFn ready, ProbeFn probe)
    : render_(std::move(render)), ready_(std::move(ready)), probe_(std::move(probe)) {}

void MetricsServer::add_routes(RoutesFn setup) {
    routes_.push_back(std::move(setup));
}

MetricsServer::~MetricsServer() {
    stop();
}

void MetricsServer::start(const std::string &listen) {
    const auto [host, port] = parse_listen_address(listen);
    auto server = std::make_unique<httplib::Server>();
    server->set_read_timeout(5, 0);
    server->set_write_timeout(5, 0);
    // A keep-alive connection serves this many requests before it is closed; the listen backlog
    // (CMakeLists.txt) takes the reconnects of many clients at once.
    server->set_keep_alive_max_count(1000);
    // Each keep-alive connection holds a worker while it lasts: enough workers that 50 clients
    // (a dashboard wall, the console's benchmark) do not queue behind each other.
    server->new_task_queue = [] { return new httplib::ThreadPool(64); };
    // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second
    // vigild share the port silently instead of failing to start.
    // The listening socket, to raise its backlog once bound (below).
    auto listening = std::make_shared<socket_t>(INVALID_SOCKET);
    server->set_socket_options([listening](socket_t sock) {
        *listening = sock;
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        // Accepted connections inherit it: without it, a response written in two parts (headers,
        // then a body) waits ~40 ms for the client's delayed ACK (Nagle).
        setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    });
    server->Get("/metrics", [this](const httplib::Request &, httplib::Response &res) {
        res.set_content(render_(), metrics::kContentType);
    });
    // Prometheus's multi-target pattern: one scrape job per target, relabelled onto ?target=.
    server->Get("/probe", [this](const httplib::Request &req, httplib::Response &res) {
        if (!req.has_param("target") || req.get_param_value("target").empty()) {
            res.status = 400;
            res.set_content("missing parameter: /probe?target=NAME\n", "text/plain");
            return;
        }
        const std::string target = req.get_param_value("target");
        const auto body = probe_ ? probe_(target) : std::nullopt;
        if (!body) {
            res.status = 404;
            // Only a label-safe name is repeated back.
            res.set_content("unknown target" + (is_label_safe_name(target) ? " " + target : std::string()) +
                                "\n",
                            "text/plain");
            return;
        }
        res.set_content(*body, metrics::kContentType);
    });
    server->Get("/healthz", [](const httplib::Request &, httplib::Response &res) {
        res.set_content("ok\n", "text/plain");
    });
    server->Get("/readyz", [this](const httplib::Request &, httplib::Response &res) {
        const auto [ready, reason] = ready_();
        res.status = ready ? 200 : 503;
        res.set_content((ready ? "ready" : "not ready: " + reason) + "\n", "text/plain");
    });
    for (const RoutesFn &setup : routes_)
        setup(*server);
    if (!server->bind_to_port(host, port))
        throw std::runtime_error("cannot listen on " + listen +
                                 " (metrics.listen): address in use or not available");
    // Debian's httplib (a shared library, so its CPPHTTPLIB_LISTEN_BACKLOG cannot be changed)
    // listens with a backlog of 5: clients that reconnect together (keep-alive connections ending
    // at their max count, under load) overflow it, and each dropped SYN costs its client a 1 s
    // retransmission. listen() again on the bound socket sets a larger one.
    if (*listening != INVALID_SOCKET && ::listen(*listening, 1024) != 0)
        spdlog::warn("metrics listener: cannot raise its listen backlog: {}", std::strerror(errno));
    server_ = std::move(server);
    listen_ = listen;
    thread_ = std::thread([s = server_.get()] { s->listen_after_bind(); });
    spdlog::info("metrics on http://{}/metrics", listen);
}

void MetricsServer::stop() {
    if (server_)
        server_->stop();
    if (thread_.joinable())
        thread_.join();
    server_.reset();
}

} // namespace vigil
