// security.hpp — what keeps the console safe to expose: the response headers (CSP to the
// console's own origin only), who may see it ([web] auth), who may act ([web] admin_token_file,
// CSRF tokens bound to one confirmed action) and where it may listen.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config.hpp"

namespace vigil::console {

// Content-Security-Policy, X-Content-Type-Options, X-Frame-Options, Referrer-Policy, Cache-Control.
const std::vector<std::pair<std::string, std::string>> &security_headers();

bool constant_time_equal(const std::string &a, const std::string &b);

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string &host);

// Refuses (std::invalid_argument, with what to do) a listen address off loopback without
// [web] auth, an unknown [web] auth or an auth without its file.
void check_exposure(const std::string &listen, const WebConfig &web);

// A secret file's content without its trailing newline; throws std::runtime_error when the file
// cannot be read or is empty.
std::string read_secret_file(const std::string &path, const std::string &key);

// [web] auth: checks a request's Authorization header. No auth configured: everyone passes.
class Authenticator {
  public:
    explicit Authenticator(const WebConfig &web); // reads auth_file; throws std::runtime_error
    bool required() const { return !scheme_.empty(); }
    // The user name (basic), "bearer" or "anonymous" when allowed; empty when refused.
    std::string check(const std::string &authorization) const;
    const std::string &scheme() const { return scheme_; }

  private:
    std::string scheme_;
    std::vector<std::pair<std::string, std::string>> accepted_; // header value → user
};

// CSRF tokens: an HMAC-SHA256, under a key made at start-up, of one action (its kind, target,
// database, pid, ...) and an expiry. Only the confirmation page of that very action issues it.
class CsrfSigner {
  public:
    CsrfSigner(); // a random key
    std::string issue(const std::string &action, double now) const;
    bool verify(const std::string &action, const std::string &token, double now) const;
    static constexpr double kLifetimeSeconds = 600;

  private:
    std::string sign(const std::string &action, long long expiry) const;
    std::string key_;
};

} // namespace vigil::console
