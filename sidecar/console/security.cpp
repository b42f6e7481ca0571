// security.cpp — headers, authentication, CSRF tokens, the exposure check.
#include "console/security.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "metrics/http.hpp"

namespace vigil::console {

const std::vector<std::pair<std::string, std::string>> &security_headers() {
    static const std::vector<std::pair<std::string, std::string>> headers = {
        {"Content-Security-Policy",
         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
         "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Referrer-Policy", "no-referrer"},
        {"Cache-Control", "no-store"},
    };
    return headers;
}

bool constant_time_equal(const std::string &a, const std::string &b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    return diff == 0;
}

bool is_loopback_host(const std::string &host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

void check_exposure(const std::string &listen, const WebConfig &web) {
    if (!web.auth.empty() && web.auth != "basic" && web.auth != "bearer")
        throw std::invalid_argument("web.auth must be \"basic\" or \"bearer\", got \"" + web.auth + "\"");
    if (!web.auth.empty() && web.auth_file.empty())
        throw std::invalid_argument("web.auth = \"" + web.auth + "\" needs web.auth_file");
    const std::string host = parse_listen_address(listen).first;
    if (web.console && web.auth.empty() && !is_loopback_host(host))
        throw std::invalid_argument(
            "metrics.listen = \"" + listen +
            "\" is not a loopback address and the console has no authentication: set [web] auth = "
            "\"basic\" or \"bearer\" with web.auth_file, listen on 127.0.0.1, or set web.console = false");
}

std::string read_secret_file(const std::string &path, const std::string &key) {
    std::ifstream in(path);
    if (!in)
        throw std::runtime_error(key + ": cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
        s.pop_back();
    if (s.empty())
        throw std::runtime_error(key + ": " + path + " is empty");
    return s;
}

namespace {

std::string base64(const std::string &in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    const int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                        reinterpret_cast<const unsigned char *>(in.data()), static_cast<int>(in.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::string hex(const unsigned char *p, std::size_t n) {
    static const char *digits = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        s += digits[p[i] >> 4];
        s += digits[p[i] & 15];
    }
    return s;
}

} // namespace

Authenticator::Authenticator(const WebConfig &web) : scheme_(web.auth) {
    if (scheme_.empty())
        return;
    const std::string text = read_secret_file(web.auth_file, "web.auth_file");
    if (scheme_ == "bearer") {
        accepted_.emplace_back("Bearer " + text, "bearer");
        return;
    }
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        const auto colon = line.find(':');
        if (line.empty() || line[0] == '#' || colon == std::string::npos)
            continue;
        accepted_.emplace_back("Basic " + base64(line), line.substr(0, colon));
    }
    if (accepted_.empty())
        throw std::runtime_error("web.auth_file: " + web.auth_file + " has no user:password line");
}

std::string Authenticator::check(const std::string &authorization) const {
    if (scheme_.empty())
        return "anonymous";
    std::string who;
    for (const auto &[value, user] : accepted_) // every entry compared, in constant time each
        if (constant_time_equal(value, authorization) && who.empty())
            who = user;
    return who;
}

CsrfSigner::CsrfSigner() {
    unsigned char k[32];
    if (RAND_bytes(k, sizeof k) != 1)
        throw std::runtime_error("no randomness for the console's CSRF key");
    key_.assign(reinterpret_cast<const char *>(k), sizeof k);
}

std::string CsrfSigner::sign(const std::string &action, long long expiry) const {
    const std::string msg = std::to_string(expiry) + "\n" + action;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
         reinterpret_cast<const unsigned char *>(msg.data()), msg.size(), mac, &len);
    return std::to_string(expiry) + "." + hex(mac, len);
}

std::string CsrfSigner::issue(const std::string &action, double now) const {
    return sign(action, static_cast<long long>(now + kLifetimeSeconds));
}

bool CsrfSigner::verify(const std::string &action, const std::string &token, double now) const {
    const auto dot = token.find('.');
    if (dot == std::string::npos || dot == 0 || dot > 18)
        return false;
    long long expiry = 0;
    try {
        expiry = std::stoll(token.substr(0, dot));
    } catch (const std::exception &) {
        return false;
    }
    if (static_cast<double>(expiry) < now || static_cast<double>(expiry) > now + kLifetimeSeconds + 1)
        return false;
    return constant_time_equal(sign(action, expiry), token);
}

} // namespace vigil::console
