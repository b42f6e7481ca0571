// create.cpp — `vigild backup create`: pg_dump -Fc from an exported snapshot, the
// manifest from the same snapshot, retention.
#include "backup/backup.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/file.h>
#include <thread>
#include <unistd.h>

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include "db.hpp"
#include "dsn_params.hpp"
#include "backup/subprocess.hpp"
#include "progress.hpp"
#include "wall_clock.hpp"

namespace fs = std::filesystem;

namespace vigil::backup {

namespace {

// "20261122T221500.123Z": sortable, unique per millisecond.
std::string timestamp_for_name(double epoch) {
    const std::time_t secs = static_cast<std::time_t>(epoch);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf,
                  static_cast<int>((epoch - static_cast<double>(secs)) * 1000));
    return out;
}

std::string safe_name(const std::string &name) {
    std::string out;
    for (char c : name)
        out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') ? c : '_';
    return out;
}

// Why writing `path` failed: a full file system is named as such, with the directory.
std::string write_error(const std::string &path, int err) {
    if (err == ENOSPC || err == EDQUOT)
        return "no space left on device in " + fs::path(path).parent_path().string() + " (writing " + path +
               ")";
    return "cannot write " + path + ": " + std::strerror(err);
}

// fsync of a file or directory: a manifest must never reach the disk before its dump does.
void sync_path(const std::string &path, bool directory) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
    if (fd < 0)
        throw std::runtime_error(write_error(path, errno));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0)
        throw std::runtime_error(write_error(path, err));
}

// A file of a backup being written: created and locked (flock) for as long as the backup runs,
// so that the next backup can tell a file left by a killed one (unlocked) from one in progress.
class InProgress {
  public:
    explicit InProgress(const std::string &path)
        : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) {
        if (fd_ < 0)
            throw std::runtime_error(write_error(path, errno));
        ::flock(fd_, LOCK_EX | LOCK_NB);
    }
    ~InProgress() { ::close(fd_); }
    InProgress(const InProgress &) = delete;
    InProgress &operator=(const InProgress &) = delete;
    int fd() const { return fd_; }

  private:
    int fd_;
};

// Writes text to path through a temporary file, fsync and a rename: readers never see half a
// file, and a failed write (a full disk) leaves no temporary file behind.
void write_atomically(const std::string &path, const std::string &text) {
    const std::string tmp = path + ".tmp";
    try {
        InProgress out(tmp);
        for (std::size_t done = 0; done < text.size();) {
            const ssize_t n = ::write(out.fd(), text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                throw std::runtime_error(write_error(tmp, errno));
            done += static_cast<std::size_t>(n);
        }
        if (::fsync(out.fd()) != 0)
            throw std::runtime_error(write_error(tmp, errno));
    } catch (...) {
        std::error_code ec;
        fs::remove(tmp, ec);
        throw;
    }
    fs::rename(tmp, path);
    sync_path(fs::path(path).parent_path().string(), true);
}

bool ends_with(const std::string &s, const std::string &suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Removes what backups that never finished left in `directory` (a vigild killed with SIGKILL, a
// machine that went down): .dump.partial and .manifest.json.tmp files that no running backup holds
// locked and that nothing has written to for a minute.
void remove_abandoned_files(const std::string &directory) {
    std::error_code ec;
    const auto now = fs::file_time_type::clock::now();
    for (const auto &entry : fs::directory_iterator(directory, ec)) {
        const std::string name = entry.path().filename().string();
        if (!ends_with(name, ".dump.partial") && !ends_with(name, ".manifest.json.tmp"))
            continue;
        std::error_code time_ec;
        const auto written = fs::last_write_time(entry.path(), time_ec);
        if (time_ec || now - written < std::chrono::minutes(1))
            continue;
        const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
            std::error_code rm_ec;
            if (fs::remove(entry.path(), rm_ec))
                spdlog::info("removed {}, left by a backup that did not finish", entry.path().string());
        }
        ::close(fd);
    }
}

// What a failed backup wrote goes with it.
struct Leftovers {
    std::vector<std::string> paths;
    bool keep = false;
    ~Leftovers() {
        if (keep)
            return;
        std::error_code ec;
        for (const auto &p : paths)
            fs::remove(p, ec);
    }
};

} // namespace

nlohmann::json Manifest::to_json() const {
    nlohmann::json tables_json = nlohmann::json::array();
    for (const TableDigest &t : tables)
        tables_json.push_back(
            {{"schema", t.schema}, {"name", t.name}, {"rows", t.rows}, {"checksum", t.checksum}});
    return {{"format", "vigil-backup-manifest"},
            {"version", 1},
            {"database", database},
            {"server_version", server_version},
            {"dump_file", dump_file},
            {"dump_size", dump_size},
            {"dump_sha256", dump_sha256},
            {"created_at", created_at},
            {"duration_seconds", duration_seconds},
            {"checksum", "sum of hashtextextended(row::text, 0) over the table, TimeZone UTC, DateStyle ISO"},
            {"tables", tables_json}};
}

Manifest Manifest::from_json(const nlohmann::json &j) {
    // Sizes and row counts are the integers to_json writes: nlohmann would cast 1e300 to a long
    // long (undefined behaviour) and wrap 18446744073709551615 (unsigned in JSON) to -1.
    const auto integer = [](const nlohmann::json &v, const char *key) {
        if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<long long>() < 0))
            throw std::runtime_error(std::string("malformed manifest: ") + key + " is not a 64-bit integer");
        return v.get<long long>();
    };
    try {
        if (j.at("format") != "vigil-backup-manifest" || j.at("version") != 1)
            throw std::runtime_error("not a vigil backup manifest (version 1)");
        Manifest m;
        m.database = j.at("database");
        m.server_version = j.at("server_version");
        m.dump_file = j.at("dump_file");
        m.dump_size = integer(j.at("dump_size"), "dump_size");
        m.dump_sha256 = j.at("dump_sha256");
        m.created_at = j.at("created_at");
        m.duration_seconds = j.value("duration_seconds", 0.0);
        for (const auto &t : j.at("tables"))
            m.tables.push_back(
                {t.at("schema"), t.at("name"), integer(t.at("rows"), "rows"), t.at("checksum")});
        return m;
    } catch (const nlohmann::json::exception &e) {
        throw std::runtime_error(std::string("malformed manifest: ") + e.what());
    }
}

std::string sha256_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + path);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("OpenSSL cannot compute SHA-256");
    std::vector<char> buf(1 << 20);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        if (in.gcount() > 0)
            EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(in.gcount()));
    }
    if (in.bad())
        throw std::runtime_error("error reading " + path);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), digest, &len);
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 15];
    }
    return out;
}

void set_checksum_session(db::Connection &conn) {
    conn.exec("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';"
              "SET extra_float_digits = 1; SET bytea_output = 'hex'");
}

std::vector<TableDigest> table_digests(db::Connection &conn, const std::atomic<bool> *stop,
                                       const std::function<void(std::size_t, std::size_t)> &progress) {
    // Ordinary tables that pg_dump dumps the data of: not catalogs, not temporary, not
    // extension members.
    db::Result tables =
        conn.exec("SELECT n.nspname, c.relname, format('%I.%I', n.nspname, c.relname)"
                  "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                  " WHERE c.relkind = 'r' AND c.relpersistence <> 't'"
                  "   AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
                  "   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
                  "                      AND d.objid = c.oid AND d.deptype = 'e')"
                  " ORDER BY 1, 2");
    std::vector<TableDigest> out;
    for (int i = 0; i < tables.rows(); ++i) {
        if (stop && stop->load())
            throw std::runtime_error("stopped");
        // hashtextextended is the stable hash hash partitioning relies on; the sum of the row
        // hashes does not depend on row order.
        db::Result r =
            conn.exec("SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0) FROM ONLY " +
                      tables.value(i, 2) + " t");
        out.push_back({tables.value(i, 0), tables.value(i, 1), std::stoll(r.value(0, 0)), r.value(0, 1)});
        if (progress)
            progress(out.size(), static_cast<std::size_t>(tables.rows()));
    }
    return out;
}

std::string manifest_path_for(const std::string &dump_path) {
    const std::string suffix = ".dump";
    if (dump_path.size() > suffix.size() &&
        dump_path.compare(dump_path.size() - suffix.size(), suffix.size(), suffix) == 0)
        return dump_path.substr(0, dump_path.size() - suffix.size()) + ".manifest.json";
    return dump_path + ".manifest.json";
}

std::vector<std::pair<std::string, Manifest>> list_backups(const std::string &directory) {
    std::vector<std::pair<std::string, Manifest>> out;
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(directory, ec)) {
        const std::string name = entry.path().filename().string();
        const std::string suffix = ".manifest.json";
        if (name.size() <= suffix.size() ||
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        try {
            std::ifstream in(entry.path());
            Manifest m = Manifest::from_json(nlohmann::json::parse(in));
            // A manifest is written after its dump is complete and on disk; one whose dump is gone
            // or shorter (a copy cut short, a crash of the machine) is not a backup: it never
            // counts as the newest, and retention does not count it.
            const fs::path dump = fs::path(directory) / m.dump_file;
            std::error_code size_ec;
            const auto size = fs::file_size(dump, size_ec);
            if (size_ec) {
                spdlog::warn("ignoring {}: its dump {} is missing (an incomplete backup)",
                             entry.path().string(), dump.string());
                continue;
            }
            if (static_cast<long long>(size) != m.dump_size) {
                spdlog::warn(
                    "ignoring {}: its dump {} has {} bytes, the manifest says {} (an incomplete backup)",
                    entry.path().string(), dump.string(), size, m.dump_size);
                continue;
            }
            out.emplace_back(dump.string(), m);
        } catch (const std::exception &e) {
            spdlog::warn("ignoring {}: {}", entry.path().string(), e.what());
        }
    }
    std::sort(out.begin(), out.end(),
              [](const auto &a, const auto &b) { return a.second.created_at > b.second.created_at; });
    return out;
}

std::vector<std::string> apply_retention(const BackupConfig &cfg, const std::string &keep) {
    std::vector<std::string> removed;
    const auto backups = list_backups(cfg.directory);
    const double now = now_epoch();
    int kept = 0;
    for (const auto &[dump, manifest] : backups) {
        const bool too_many = kept >= cfg.retention_count;
        const bool too_old =
            cfg.retention_days > 0 && now - manifest.created_at > cfg.retention_days * 86400.0;
        if (dump != keep && (too_many || too_old)) {
            std::error_code ec;
            fs::remove(manifest_path_for(dump), ec); // the manifest first: a dump without one is not listed
            fs::remove(dump, ec);
            removed.push_back(dump);
            spdlog::info("retention: removed {}", dump);
        } else {
            ++kept;
        }
    }
    return removed;
}

CreateResult create(const std::string &dsn, const BackupConfig &cfg) {
    if (cfg.directory.empty())
        throw NoBackupDirectory();
    fs::create_directories(cfg.directory);
    remove_abandoned_files(cfg.directory);
    const auto started = std::chrono::steady_clock::now();
    try {
        db::Connection conn = db::Connection::open(dsn, "vigild backup");
        set_checksum_session(conn);
        // The snapshot stays exported while this transaction is open: pg_dump imports it, and the
        // checksums below read the same rows.
        conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        db::Result snap =
            conn.exec("SELECT pg_export_snapshot(), current_database(), current_setting('server_version'),"
                      "       extract(epoch FROM transaction_timestamp())");
        const std::string snapshot = snap.value(0, 0);
        Manifest m;
        m.database = snap.value(0, 1);
        m.server_version = snap.value(0, 2);
        m.created_at = std::stod(snap.value(0, 3));
        m.dump_file = safe_name(m.database) + "_" + timestamp_for_name(m.created_at) + ".dump";
        const std::string dump_path = (fs::path(cfg.directory) / m.dump_file).string();
        const std::string partial = dump_path + ".partial";
        // Whatever fails from here on (the server gone, a full disk, pg_dump), nothing is kept.
        Leftovers leftovers{{partial}};
        InProgress in_progress(partial);

        const ChildDsn child = dsn_for_child(dsn);
        std::map<std::string, std::string> env;
        if (child.password)
            env["PGPASSWORD"] = *child.password;
        SubprocessResult dumped;
        std::thread dumper([&] {
            dumped = run_subprocess({pg_program(cfg.pg_bindir, "pg_dump"), "--format=custom",
                                     "--snapshot=" + snapshot, "--file=" + partial, "--dbname=" + child.dsn},
                                    env);
        });
        ProgressLine progress; // on a terminal only
        try {
            m.tables = table_digests(conn, nullptr, [&progress](std::size_t done, std::size_t total) {
                progress.update(
                    ProgressLine::format("backup: checksummed %zu/%zu tables, pg_dump running", done, total));
            });
            progress.show("backup: waiting for pg_dump to finish");
        } catch (...) {
            dumper.join();
            throw;
        }
        dumper.join();
        progress.clear();
        // First: a pg_dump that failed because the server went is a lost connection (exit 69).
        conn.exec("COMMIT");
        if (dumped.exit_code != 0) {
            if (dumped.error_output.find("No space left on device") != std::string::npos)
                throw std::runtime_error(write_error(partial, ENOSPC) +
                                         ": pg_dump failed: " + dumped.describe());
            throw std::runtime_error("pg_dump failed: " + dumped.describe());
        }
        m.dump_size = static_cast<long long>(fs::file_size(partial));
        sync_path(partial, false);
        m.dump_sha256 = sha256_file(partial);
        m.duration_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        fs::rename(partial, dump_path);
        leftovers.paths = {dump_path};
        const std::string manifest_path = manifest_path_for(dump_path);
        write_atomically(manifest_path, m.to_json().dump(2) + "\n");
        leftovers.keep = true;

        CreateResult result{dump_path, manifest_path, m, {}};
        result.removed = apply_retention(cfg, dump_path);
        return result;
    } catch (const db::DbError &e) {
        throw db::DbError("backup failed, nothing of it was kept: " + std::string(e.what()), e.sqlstate());
    }
}

} // namespace vigil::backup
