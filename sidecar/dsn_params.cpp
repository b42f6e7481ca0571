// dsn_params.cpp — libpq connection-string rewriting.
#include "dsn_params.hpp"

#include <memory>
#include <stdexcept>

#include <libpq-fe.h>

namespace vigil {

std::vector<std::pair<std::string, std::string>> dsn_settings(const std::string &dsn) {
    char *err = nullptr;
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts(PQconninfoParse(dsn.c_str(), &err),
                                                                      &PQconninfoFree);
    if (!opts) {
        std::string message = err ? err : "out of memory";
        PQfreemem(err);
        while (!message.empty() && message.back() == '\n')
            message.pop_back();
        throw InvalidDsn("invalid connection string: " + message);
    }
    std::vector<std::pair<std::string, std::string>> out;
    for (PQconninfoOption *o = opts.get(); o->keyword; ++o)
        if (o->val && *o->val)
            out.emplace_back(o->keyword, o->val);
    return out;
}

bool is_connection_option_error(const std::string &message) {
    // libpq's own wording for settings it refuses once parsed (fe-connect.c: connectOptions2 and
    // the port/host set-up of PQconnectPoll); anything else is about reaching the server.
    static const char *const patterns[] = {
        "invalid integer value", "for connection option", "could not match", "invalid sslmode value",
        "invalid gssencmode value", "invalid channel_binding value", "invalid target_session_attrs value",
        "invalid ssl_min_protocol_version value", "invalid ssl_max_protocol_version value",
        "invalid SSL protocol version range", "invalid port number", "when SSL support is not compiled in",
    };
    for (const char *p : patterns)
        if (message.find(p) != std::string::npos)
            return true;
    return false;
}

std::map<std::string, std::string> parse_dsn(const std::string &dsn) {
    const auto settings = dsn_settings(dsn);
    return {settings.begin(), settings.end()};
}

std::string build_dsn(const std::map<std::string, std::string> &params) {
    std::string out;
    for (const auto &[key, value] : params) {
        if (!out.empty())
            out += ' ';
        out += key + "='";
        for (char c : value) {
            if (c == '\'' || c == '\\')
                out += '\\';
            out += c;
        }
        out += '\'';
    }
    return out;
}

std::string dsn_with(const std::string &dsn, const std::map<std::string, std::string> &overrides) {
    auto params = parse_dsn(dsn);
    for (const auto &[key, value] : overrides)
        params[key] = value;
    return build_dsn(params);
}

ChildDsn dsn_for_child(const std::string &dsn) {
    auto params = parse_dsn(dsn);
    ChildDsn out;
    if (auto it = params.find("password"); it != params.end()) {
        out.password = it->second;
        params.erase(it);
    }
    out.dsn = build_dsn(params);
    return out;
}

} // namespace vigil
