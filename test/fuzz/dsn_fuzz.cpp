// dsn_fuzz.cpp — connection strings: dsn_settings, parse_dsn, dsn_with, dsn_for_child and
// db::redact_dsn on arbitrary text. The input is "DSN" or "DSN\0VALUE" (VALUE, default
// "fuzz_value", is what dsn_with puts in). Checked:
//   - the parsers throw std::invalid_argument and nothing else, all of them for the same DSNs;
//     redact_dsn never throws;
//   - whatever is rewritten (build_dsn's quoting) reads back as the same settings;
//   - no password reaches redact_dsn's output or dsn_for_child's DSN: a password of 4 bytes or
//     more that is no part of another setting (nor of the keywords) never appears in them.
#include <algorithm>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "db.hpp"
#include "dsn_params.hpp"
#include "fuzz_support.hpp"

namespace {

using Settings = std::vector<std::pair<std::string, std::string>>;
using Params = std::map<std::string, std::string>;
using vigil::fuzz::printable;

bool is_secret_key(const std::string &keyword) {
    return keyword.find("password") != std::string::npos;
}

// The settings a text leaves out: every secret (redact_dsn) or the password only (dsn_for_child,
// which keeps sslpassword).
enum class Hidden { secrets, password };

bool hidden(const std::string &keyword, Hidden h) {
    return h == Hidden::password ? keyword == "password" : is_secret_key(keyword);
}

// Whether a text showing the settings but the hidden ones may hold `secret` only by leaking it.
// A secret with a separator in it could be made of the end of one setting and the start of the
// next, so only plain ones are checked.
bool checkable(const std::string &secret, const Params &params, Hidden h) {
    if (secret.size() < 4 || secret.find_first_of(" ='\\*") != std::string::npos)
        return false;
    for (const auto &[keyword, value] : params)
        if (keyword.find(secret) != std::string::npos ||
            (!hidden(keyword, h) && value.find(secret) != std::string::npos))
            return false;
    return std::string("password").find(secret) == std::string::npos;
}

void check_no_secret(const Params &params, const std::string &text, const std::string &where, Hidden h) {
    for (const auto &[keyword, value] : params)
        if (hidden(keyword, h) && checkable(value, params, h))
            FUZZ_CHECK(text.find(value) == std::string::npos,
                       where + " " + printable(text) + " shows " + keyword + " " + printable(value));
}

// Runs a parser: its result, or nullopt when it threw std::invalid_argument.
template <typename F>
auto parsed(const char *what, const std::string &dsn, F f) -> std::optional<decltype(f())> {
    try {
        return f();
    } catch (const std::invalid_argument &) {
        return std::nullopt;
    } catch (const std::exception &e) {
        vigil::fuzz::fail(__FILE__, __LINE__, what,
                          std::string("threw ") + typeid(e).name() + ": " + e.what() + " on " +
                              printable(dsn));
    }
}

Params must_parse(const std::string &dsn, const std::string &where) {
    auto p = parsed("parse_dsn", dsn, [&] { return vigil::parse_dsn(dsn); });
    FUZZ_CHECK(p.has_value(), where + " " + printable(dsn) + " does not parse back");
    return *p;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string input(reinterpret_cast<const char *>(data), size);
    const std::size_t nul = input.find('\0');
    const std::string dsn = input.substr(0, nul);
    std::string value = nul == std::string::npos ? "fuzz_value" : input.substr(nul + 1);
    value.erase(std::remove(value.begin(), value.end(), '\0'), value.end());

    const auto settings = parsed("dsn_settings", dsn, [&] { return vigil::dsn_settings(dsn); });
    const auto params = parsed("parse_dsn", dsn, [&] { return vigil::parse_dsn(dsn); });
    const auto child = parsed("dsn_for_child", dsn, [&] { return vigil::dsn_for_child(dsn); });
    const auto with_db = parsed("dsn_with", dsn, [&] { return vigil::dsn_with(dsn, {{"dbname", value}}); });
    const auto with_pw = parsed("dsn_with", dsn, [&] { return vigil::dsn_with(dsn, {{"password", value}}); });
    std::string redacted;
    try {
        redacted = vigil::db::redact_dsn(dsn);
    } catch (const std::exception &e) {
        vigil::fuzz::fail(__FILE__, __LINE__, "redact_dsn threw",
                          std::string(typeid(e).name()) + ": " + e.what());
    }

    const bool ok = settings.has_value();
    FUZZ_CHECK(params.has_value() == ok && child.has_value() == ok && with_db.has_value() == ok &&
                   with_pw.has_value() == ok,
               "the parsers disagree on whether " + printable(dsn) + " is valid");
    if (dsn.empty())
        FUZZ_CHECK(redacted == "(libpq defaults)", printable(redacted));
    else if (!ok)
        FUZZ_CHECK(redacted == "(unparseable connection string)", printable(redacted));
    if (!ok)
        return 0;

    // One setting per keyword, none empty, the same by keyword.
    FUZZ_CHECK(params->size() == settings->size(), "a keyword twice in dsn_settings(" + printable(dsn) + ")");
    for (const auto &[keyword, v] : *settings)
        FUZZ_CHECK(!v.empty() && params->at(keyword) == v, keyword);
    if (!dsn.empty())
        check_no_secret(*params, redacted, "redact_dsn gives", Hidden::secrets);

    // The child's DSN: every setting but the password, which comes out on its own.
    Params expected = *params;
    const auto password = expected.find("password");
    FUZZ_CHECK(child->password ==
                   (password == expected.end() ? std::nullopt : std::optional(password->second)),
               "dsn_for_child's password");
    if (password != expected.end())
        expected.erase(password);
    FUZZ_CHECK(must_parse(child->dsn, "dsn_for_child gives") == expected,
               "dsn_for_child changed a setting: " + printable(child->dsn));
    check_no_secret(*params, child->dsn, "dsn_for_child gives", Hidden::password);

    // dsn_with: the settings, the one replaced (an empty value is no setting).
    expected = *params;
    if (value.empty())
        expected.erase("dbname");
    else
        expected["dbname"] = value;
    FUZZ_CHECK(must_parse(*with_db, "dsn_with gives") == expected,
               "dsn_with(dbname) gives " + printable(*with_db));

    expected = *params;
    if (value.empty())
        expected.erase("password");
    else
        expected["password"] = value;
    FUZZ_CHECK(must_parse(*with_pw, "dsn_with gives") == expected,
               "dsn_with(password) gives " + printable(*with_pw));
    check_no_secret(expected, vigil::db::redact_dsn(*with_pw), "redact_dsn gives", Hidden::secrets);
    check_no_secret(expected, vigil::dsn_for_child(*with_pw).dsn, "dsn_for_child gives", Hidden::password);
    return 0;
}
