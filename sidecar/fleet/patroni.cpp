// patroni.cpp — reading Patroni's `GET /cluster`.
#include "fleet/patroni.hpp"

#include <cmath>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace vigil::fleet {

namespace {

std::string text_of(const nlohmann::json &m, const char *key) {
    const auto it = m.find(key);
    return it != m.end() && it->is_string() ? it->get<std::string>() : "";
}

std::optional<double> number_of(const nlohmann::json &m, const char *key) {
    const auto it = m.find(key);
    if (it == m.end() || !it->is_number())
        return std::nullopt; // "unknown", null or absent
    const double v = it->get<double>();
    if (!std::isfinite(v))
        return std::nullopt;
    return v;
}

} // namespace

PatroniCluster parse_cluster(const std::string &json) {
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(json);
    } catch (const nlohmann::json::exception &e) {
        throw PatroniError(std::string("the answer is not JSON: ") + e.what());
    }
    if (!doc.is_object() || !doc.contains("members") || !doc["members"].is_array())
        throw PatroniError("the answer has no \"members\" array (is this Patroni's /cluster?)");
    PatroniCluster cluster;
    cluster.scope = text_of(doc, "scope");
    for (const nlohmann::json &m : doc["members"]) {
        if (!m.is_object())
            continue;
        PatroniMember member;
        member.name = text_of(m, "name");
        member.role = text_of(m, "role");
        member.state = text_of(m, "state");
        member.host = text_of(m, "host");
        member.api_url = text_of(m, "api_url");
        const auto port = number_of(m, "port");
        if (port && *port > 0 && *port < 65536 && std::floor(*port) == *port)
            member.port = static_cast<int>(*port);
        if (const auto tl = number_of(m, "timeline"))
            member.timeline = static_cast<long long>(*tl);
        member.lag_bytes = number_of(m, "lag");
        if (member.name.empty() || member.host.empty() || member.port == 0)
            continue;
        cluster.members.push_back(std::move(member));
    }
    return cluster;
}

PatroniCluster fetch_cluster(const std::string &base_url, Seconds timeout) {
    std::string base = base_url;
    while (!base.empty() && base.back() == '/')
        base.pop_back();
    httplib::Client client(base);
    const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
    client.set_connection_timeout(static_cast<time_t>(usec / 1000000), static_cast<time_t>(usec % 1000000));
    client.set_read_timeout(static_cast<time_t>(usec / 1000000), static_cast<time_t>(usec % 1000000));
    client.set_write_timeout(static_cast<time_t>(usec / 1000000), static_cast<time_t>(usec % 1000000));
    auto res = client.Get("/cluster");
    if (!res)
        throw PatroniError(base + "/cluster: " + httplib::to_string(res.error()));
    if (res->status != 200)
        throw PatroniError(base + "/cluster: HTTP " + std::to_string(res->status));
    try {
        return parse_cluster(res->body);
    } catch (const PatroniError &e) {
        throw PatroniError(base + "/cluster: " + e.what());
    }
}

} // namespace vigil::fleet
