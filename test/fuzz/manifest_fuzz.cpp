// manifest_fuzz.cpp — the backup manifest: reading (nlohmann::json::parse, then
// Manifest::from_json, as list_backups and verify_dump do) and writing (to_json().dump(2), as
// backup create does) on arbitrary bytes.
//   - Read: the input as a manifest file either gives a Manifest or fails with the defined
//     exceptions: a nlohmann::json::exception from the JSON parser (parse_error, out_of_range for
//     1e400), std::runtime_error from from_json. A manifest that reads holds the document's
//     values, and is written and read back unchanged.
//   - Write: a manifest built from the input (strings, sizes, finite times, tables cut from
//     it) is written and read back unchanged. A string that is not UTF-8 cannot be written as
//     JSON: the writer must then refuse with nlohmann's type_error 316, and only then.
#include <cmath>
#include <exception>
#include <optional>
#include <string>
#include <typeinfo>

#include <nlohmann/json.hpp>

#include "backup/backup.hpp"
#include "fuzz_support.hpp"

namespace {

using nlohmann::json;
using vigil::backup::Manifest;
using vigil::backup::TableDigest;
using vigil::fuzz::printable;

bool operator==(const Manifest &a, const Manifest &b) {
    return a.database == b.database && a.server_version == b.server_version && a.dump_file == b.dump_file &&
           a.dump_size == b.dump_size && a.dump_sha256 == b.dump_sha256 && a.created_at == b.created_at &&
           a.duration_seconds == b.duration_seconds && a.tables == b.tables;
}

std::string text_of(const Manifest &m) {
    return m.to_json().dump(2) + "\n";
}

// Writes m and reads it back; it must come back the same.
void check_round_trip(const Manifest &m, const char *what) {
    const std::string text = text_of(m);
    Manifest back;
    try {
        back = Manifest::from_json(json::parse(text));
    } catch (const std::exception &e) {
        vigil::fuzz::fail(__FILE__, __LINE__, what,
                          std::string("the written manifest does not read back: ") + e.what() + "\n" + text);
    }
    FUZZ_CHECK(back == m, std::string(what) + ": the manifest read back differs from\n" + text);
}

// A manifest that reads holds the document's values, as JSON compares them (1e300 is not the
// long long it was cast to, 12.5 is not 12).
void check_read(const json &j, const Manifest &m) {
    const auto same = [&](const json &value, const json &got, const char *key) {
        FUZZ_CHECK(value == got, std::string(key) + ": " + value.dump() + " read as " + got.dump());
    };
    same(j.at("database"), m.database, "database");
    same(j.at("server_version"), m.server_version, "server_version");
    same(j.at("dump_file"), m.dump_file, "dump_file");
    same(j.at("dump_size"), m.dump_size, "dump_size");
    same(j.at("dump_sha256"), m.dump_sha256, "dump_sha256");
    same(j.at("created_at"), m.created_at, "created_at");
    same(j.value("duration_seconds", 0.0), m.duration_seconds, "duration_seconds");
    std::size_t i = 0;
    for (const json &t : j.at("tables")) {
        FUZZ_CHECK(i < m.tables.size(), "fewer tables read than there are");
        same(t.at("schema"), m.tables[i].schema, "schema");
        same(t.at("name"), m.tables[i].name, "name");
        same(t.at("rows"), m.tables[i].rows, "rows");
        same(t.at("checksum"), m.tables[i].checksum, "checksum");
        ++i;
    }
    FUZZ_CHECK(i == m.tables.size(), "more tables read than there are");
}

double finite_or_zero(double v) {
    return std::isfinite(v) ? v : 0;
}

bool writable(const std::string &s) {
    try {
        (void)json(s).dump();
        return true;
    } catch (const json::type_error &e) {
        FUZZ_CHECK(e.id == 316, e.what());
        return false;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    // Reading.
    std::optional<json> j;
    try {
        j = json::parse(data, data + size);
    } catch (const json::exception &) {
        // parse_error, or out_of_range 406 for a number past a double (1e400)
    } catch (const std::exception &e) {
        vigil::fuzz::fail(__FILE__, __LINE__, "json::parse threw something else than a json::exception",
                          std::string(typeid(e).name()) + ": " + e.what());
    }
    if (j) {
        std::optional<Manifest> read;
        try {
            read = Manifest::from_json(*j);
        } catch (const std::runtime_error &e) {
            FUZZ_CHECK(*e.what() != '\0', "from_json failed without a reason");
        } catch (const std::exception &e) {
            vigil::fuzz::fail(__FILE__, __LINE__, "from_json threw something else than std::runtime_error",
                              std::string(typeid(e).name()) + ": " + e.what());
        }
        if (read) {
            check_read(*j, *read);
            check_round_trip(*read, "a manifest read from the input");
        }
    }

    // Writing.
    vigil::fuzz::Bytes in(data, size);
    Manifest m;
    m.database = in.string();
    m.server_version = in.string(32);
    m.dump_file = in.string();
    m.dump_size = in.number<long long>();
    m.dump_sha256 = in.string(64);
    m.created_at = finite_or_zero(in.number<double>());
    m.duration_seconds = finite_or_zero(in.number<double>());
    while (!in.empty() && m.tables.size() < 32) {
        TableDigest t;
        t.schema = in.string();
        t.name = in.string();
        t.rows = in.number<long long>();
        t.checksum = in.string(40);
        m.tables.push_back(t);
    }
    bool utf8 = writable(m.database) && writable(m.server_version) && writable(m.dump_file) &&
                writable(m.dump_sha256);
    for (const TableDigest &t : m.tables)
        utf8 = utf8 && writable(t.schema) && writable(t.name) && writable(t.checksum);
    if (utf8) {
        check_round_trip(m, "a manifest built from the input");
    } else {
        bool refused = false;
        try {
            (void)text_of(m);
        } catch (const json::type_error &e) {
            refused = e.id == 316;
        }
        FUZZ_CHECK(refused,
                   "a manifest with a string that is not UTF-8 was written: " + printable(m.database));
    }
    return 0;
}
