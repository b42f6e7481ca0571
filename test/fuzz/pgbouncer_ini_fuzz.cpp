// pgbouncer_ini_fuzz.cpp — the pgbouncer.ini writer behind vigil.pgbouncer_config()
// (extension/core/pgbouncer_ini.hpp) on arbitrary settings. The input is
// "DATABASE\0HOST\0MODE\0" followed by up to 32 bytes read as port, pool size, max_client_conn
// and available connections. Checked:
//   - the writer returns text or throws IniError, nothing else;
//   - the text is only what the writer means to write: one comment header, the [databases]
//     section with exactly one entry, the [pgbouncer] section with known keys, and comments; no
//     control character but the line feeds ending its lines, so no value can start a line (or a
//     section) of its own;
//   - the [databases] entry reads back, as pgbouncer would read it, as the database asked for.
#include <cstdint>
#include <cstring>
#include <exception>
#include <set>
#include <sstream>
#include <string>
#include <typeinfo>

#include "fuzz_support.hpp"
#include "pgbouncer_ini.hpp"

namespace {

using vigil::fuzz::printable;

std::string next_field(const std::uint8_t *&data, std::size_t &size) {
    const void *nul = std::memchr(data, 0, size);
    const std::size_t n = nul ? static_cast<const std::uint8_t *>(nul) - data : size;
    std::string out(reinterpret_cast<const char *>(data), n);
    const std::size_t used = nul ? n + 1 : n;
    data += used;
    size -= used;
    return out;
}

std::int64_t next_int(const std::uint8_t *&data, std::size_t &size) {
    std::int64_t v = 0;
    const std::size_t n = size < sizeof v ? size : sizeof v;
    std::memcpy(&v, data, n);
    data += n;
    size -= n;
    return v;
}

// A connection-string value as pgbouncer reads it from `s` at `pos`: bare up to a space, or in
// single quotes with '' for a quote. Advances pos past it.
std::string read_value(const std::string &s, std::size_t &pos) {
    std::string out;
    if (pos < s.size() && s[pos] == '\'') {
        for (++pos; pos < s.size(); ++pos) {
            if (s[pos] == '\'') {
                if (pos + 1 < s.size() && s[pos + 1] == '\'') {
                    out += '\'';
                    ++pos;
                } else {
                    ++pos;
                    break;
                }
            } else
                out += s[pos];
        }
    } else {
        while (pos < s.size() && s[pos] != ' ')
            out += s[pos++];
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    vigil::core::PgbouncerSettings s;
    s.database = next_field(data, size);
    s.host = next_field(data, size);
    s.pool_mode = next_field(data, size);
    s.port = static_cast<int>(next_int(data, size) % 70000);
    s.pool_size = next_int(data, size);
    s.max_client_conn = next_int(data, size);
    s.available_connections = next_int(data, size);

    std::string ini;
    try {
        ini = vigil::core::pgbouncer_ini(s);
    } catch (const vigil::core::IniError &e) {
        if (std::string(e.what()).empty() || e.hint().empty())
            FUZZ_CHECK(false, "an IniError without a message or a hint");
        return 0;
    } catch (const std::exception &e) {
        FUZZ_CHECK(false, std::string("unexpected ") + typeid(e).name() + ": " + e.what());
    }

    FUZZ_CHECK(!ini.empty() && ini.back() == '\n', "the text does not end with a line feed");
    for (unsigned char c : ini)
        FUZZ_CHECK(c == '\n' || (c >= 0x20 && c != 0x7f), "a control character in " + printable(ini));

    static const std::set<std::string> pgbouncer_keys = {
        "pool_mode",          "default_pool_size", "reserve_pool_size", "reserve_pool_timeout",
        "max_db_connections", "max_client_conn",   "server_reset_query"};
    std::istringstream lines(ini);
    std::string section, line;
    int entries = 0, sections = 0;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == ';')
            continue;
        if (line[0] == '[') {
            FUZZ_CHECK(line == "[databases]" || line == "[pgbouncer]", "a section " + printable(line));
            FUZZ_CHECK(line != section, "a section twice: " + printable(ini));
            section = line;
            ++sections;
            continue;
        }
        if (section == "[pgbouncer]") {
            const std::string key = line.substr(0, line.find(" = "));
            FUZZ_CHECK(line.find(" = ") != std::string::npos && pgbouncer_keys.count(key),
                       "an unexpected [pgbouncer] line " + printable(line));
            continue;
        }
        FUZZ_CHECK(section == "[databases]", "a line outside a section: " + printable(line));
        ++entries;
        // key = host=H port=P dbname=D, the key bare or in single quotes.
        std::size_t pos = 0;
        std::string key;
        if (line[0] == '\'') {
            const std::size_t end = line.find('\'', 1);
            FUZZ_CHECK(end != std::string::npos, "an unterminated key " + printable(line));
            key = line.substr(1, end - 1);
            pos = end + 1;
        } else {
            pos = line.find(' ');
            key = line.substr(0, pos);
        }
        FUZZ_CHECK(key == s.database, "the key " + printable(key) + " is not " + printable(s.database));
        FUZZ_CHECK(line.compare(pos, 8, " = host=") == 0, "no host in " + printable(line));
        pos += 8;
        FUZZ_CHECK(read_value(line, pos) == s.host, "the host does not read back: " + printable(line));
        const std::string port = " port=" + std::to_string(s.port) + " dbname=";
        FUZZ_CHECK(line.compare(pos, port.size(), port) == 0, "no port in " + printable(line));
        pos += port.size();
        FUZZ_CHECK(read_value(line, pos) == s.database, "dbname does not read back: " + printable(line));
        FUZZ_CHECK(pos == line.size(), "more after dbname: " + printable(line));
    }
    FUZZ_CHECK(sections == 2 && entries == 1, "not one entry in two sections: " + printable(ini));
    return 0;
}
