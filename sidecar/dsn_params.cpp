// dsn_params.cpp — libpq connection-string rewriting.
#include "dsn_params.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <libpq-fe.h>

namespace vigil {

namespace {

// What in a connection string libpq could not parse may be a password: the part of a URI's
// user info after the colon, a password query parameter, the value of a *password keyword and
// any words after it that are not settings (`password=two words`). libpq quotes such pieces,
// sometimes the whole URI, in its parse errors.
std::vector<std::string> password_candidates(const std::string &dsn) {
    std::vector<std::string> found;
    const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    for (const char *scheme : {"postgresql://", "postgres://"})
        if (dsn.rfind(scheme, 0) == 0) {
            const std::string rest = dsn.substr(std::strlen(scheme));
            const std::size_t end = std::min(rest.find_first_of("/?#"), rest.size());
            const std::size_t at = end == 0 ? std::string::npos : rest.rfind('@', end - 1);
            if (at != std::string::npos)
                if (const auto colon = rest.find(':'); colon < at)
                    found.push_back(rest.substr(colon + 1, at - colon - 1));
            if (const auto query = rest.find('?'); query != std::string::npos) {
                std::istringstream params(rest.substr(query + 1));
                for (std::string param; std::getline(params, param, '&');)
                    if (const auto eq = param.find('=');
                        eq != std::string::npos && param.substr(0, eq).find("password") != std::string::npos)
                        found.push_back(param.substr(eq + 1));
            }
        }
    for (std::size_t at = dsn.find("password"); at != std::string::npos; at = dsn.find("password", at + 1)) {
        std::size_t i = at + 8;
        while (i < dsn.size() && is_space(dsn[i]))
            ++i;
        if (i >= dsn.size() || dsn[i] != '=')
            continue;
        ++i;
        while (i < dsn.size() && is_space(dsn[i]))
            ++i;
        const std::size_t start = i;
        if (i < dsn.size() && dsn[i] == '\'') {
            std::size_t close = start + 1; // the closing quote, or the end when there is none
            while (close < dsn.size() && dsn[close] != '\'')
                close += dsn[close] == '\\' ? 2 : 1;
            close = std::min(close, dsn.size());
            found.push_back(dsn.substr(start + 1, close - start - 1));
            i = std::min(close + 1, dsn.size());
        } else {
            while (i < dsn.size() && !is_space(dsn[i]))
                ++i;
        }
        found.push_back(dsn.substr(start, i - start));
        // The words after it up to the next setting: the rest of a password with spaces in it.
        std::istringstream words(dsn.substr(i));
        for (std::string w; words >> w && w.find('=') == std::string::npos;)
            found.push_back(w);
    }
    found.erase(std::remove(found.begin(), found.end(), std::string()), found.end());
    // Longest first, so that a password containing another candidate is masked whole.
    std::sort(found.begin(), found.end(), [](const auto &x, const auto &y) { return x.size() > y.size(); });
    return found;
}

std::string without_passwords(std::string message, const std::string &dsn) {
    for (const std::string &secret : password_candidates(dsn))
        for (std::size_t at = 0; (at = message.find(secret, at)) != std::string::npos; at += 8)
            message.replace(at, secret.size(), "********");
    return message;
}

} // namespace

std::vector<std::pair<std::string, std::string>> dsn_settings(const std::string &dsn) {
    char *err = nullptr;
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts(PQconninfoParse(dsn.c_str(), &err),
                                                                      &PQconninfoFree);
    if (!opts) {
        std::string message = err ? err : "out of memory";
        PQfreemem(err);
        while (!message.empty() && message.back() == '\n')
            message.pop_back();
        throw InvalidDsn("invalid connection string: " + without_passwords(message, dsn));
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
        "invalid integer value",
        "for connection option",
        "could not match",
        "invalid sslmode value",
        "invalid gssencmode value",
        "invalid channel_binding value",
        "invalid target_session_attrs value",
        "invalid ssl_min_protocol_version value",
        "invalid ssl_max_protocol_version value",
        "invalid SSL protocol version range",
        "invalid port number",
        "when SSL support is not compiled in",
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

namespace {

std::vector<std::string> split_commas(const std::string &text) {
    std::vector<std::string> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');)
        out.push_back(item);
    if (!text.empty() && text.back() == ',')
        out.emplace_back();
    return out;
}

} // namespace

std::vector<std::string> dsn_hosts(const std::string &dsn) {
    const auto params = parse_dsn(dsn);
    const auto get = [&](const char *key) {
        const auto it = params.find(key);
        return it == params.end() ? std::string() : it->second;
    };
    const auto env = [](const char *name, const char *fallback) {
        const char *v = std::getenv(name);
        return std::string(v && *v ? v : fallback);
    };
    std::vector<std::string> hosts = split_commas(!get("host").empty() ? get("host") : get("hostaddr"));
    if (hosts.empty())
        hosts.push_back(env("PGHOST", "localhost"));
    const std::vector<std::string> ports = split_commas(get("port"));
    std::vector<std::string> out;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        std::string port = ports.size() == 1 ? ports[0] : i < ports.size() ? ports[i] : "";
        out.push_back((hosts[i].empty() ? env("PGHOST", "localhost") : hosts[i]) + ":" +
                      (port.empty() ? env("PGPORT", "5432") : port));
    }
    return out;
}

} // namespace vigil
