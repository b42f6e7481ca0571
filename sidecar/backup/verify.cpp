// verify.cpp — `vigild backup verify`: every check reported with pass/fail and timing;
// a dump is proven by restoring it into a scratch database that is always dropped.
#include "backup/backup.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "db.hpp"
#include "dsn_params.hpp"
#include "backup/subprocess.hpp"
#include "progress.hpp"
#include "wall_clock.hpp"

namespace fs = std::filesystem;

namespace vigil::backup {

namespace {

std::string human_duration(double seconds) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(1);
    if (seconds >= 3600)
        out << seconds / 3600 << "h";
    else if (seconds >= 60)
        out << seconds / 60 << "min";
    else
        out << seconds << "s";
    return out.str();
}

// Runs one step, timing it; the body returns the detail and throws StepFailed to fail.
struct StepFailed : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Runner {
  public:
    explicit Runner(VerifyReport &report) : report_(report) {}
    // Runs body unless `skip_reason` is set; returns whether the step passed.
    bool run(const std::string &name, const std::function<std::string()> &body,
             const std::string &skip_reason = "") {
        Step step{name, "pass", 0, ""};
        if (!skip_reason.empty()) {
            step.status = "skip";
            step.detail = skip_reason;
            report_.steps.push_back(step);
            return false;
        }
        const auto t0 = std::chrono::steady_clock::now();
        progress_.show("verify: " + name); // on a terminal only
        try {
            step.detail = body();
        } catch (const std::exception &e) {
            step.status = "fail";
            step.detail = e.what();
        }
        step.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        progress_.clear();
        report_.steps.push_back(step);
        return step.status == "pass";
    }

  private:
    VerifyReport &report_;
    ProgressLine progress_;
};

// "public.t: rows 10, manifest 11" lines for every difference, at most `limit`.
std::string compare_tables(const std::vector<TableDigest> &expected, const std::vector<TableDigest> &actual) {
    std::map<std::string, const TableDigest *> got;
    for (const TableDigest &t : actual)
        got[t.schema + "." + t.name] = &t;
    std::vector<std::string> problems;
    for (const TableDigest &e : expected) {
        const std::string key = e.schema + "." + e.name;
        auto it = got.find(key);
        if (it == got.end()) {
            problems.push_back(key + ": missing from the restored database");
            continue;
        }
        if (it->second->rows != e.rows)
            problems.push_back(key + ": " + std::to_string(it->second->rows) +
                               " rows restored, manifest has " + std::to_string(e.rows));
        else if (it->second->checksum != e.checksum)
            problems.push_back(key +
                               ": row checksum differs from the manifest (same row count, changed rows)");
        got.erase(it);
    }
    for (const auto &[key, t] : got)
        problems.push_back(key + ": restored but not in the manifest");
    if (problems.empty())
        return "";
    std::string out = std::to_string(problems.size()) + " table(s) differ: ";
    for (std::size_t i = 0; i < problems.size() && i < 5; ++i)
        out += (i ? "; " : "") + problems[i];
    return out;
}

std::map<std::string, std::string> child_env(const ChildDsn &child) {
    std::map<std::string, std::string> env;
    if (child.password)
        env["PGPASSWORD"] = *child.password;
    return env;
}

} // namespace

std::string scratch_database_name() {
    std::random_device rd;
    std::uniform_int_distribution<unsigned long long> dist;
    char buf[64];
    std::snprintf(buf, sizeof buf, "vigil_verify_%d_%016llx", static_cast<int>(getpid()), dist(rd));
    return buf;
}

std::vector<std::string> drop_abandoned_scratch_databases(db::Connection &admin) {
    db::Result found =
        admin.exec_params("SELECT d.datname FROM pg_database d"
                          " WHERE d.datname ~ '^vigil_verify_[0-9]+_[0-9a-f]{16}$'"
                          "   AND NOT EXISTS (SELECT FROM pg_locks l"
                          "                    WHERE l.locktype = 'advisory' AND l.classid = $1::int::oid"
                          "                      AND l.objid = hashtext(d.datname)::oid AND l.objsubid = 2)"
                          " ORDER BY 1",
                          {std::to_string(kScratchLockSpace)});
    std::vector<std::string> dropped;
    for (int i = 0; i < found.rows(); ++i) {
        const std::string name = found.value(i, 0); // [a-z0-9_] only, by the pattern above
        try {
            admin.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
            dropped.push_back(name);
            spdlog::info("dropped scratch database {}, left by a verification that did not finish", name);
        } catch (const db::DbError &e) {
            if (!admin.healthy())
                throw;
            spdlog::warn("cannot drop scratch database {} left by an earlier verification: {}", name,
                         e.what());
        }
    }
    return dropped;
}

bool VerifyReport::passed() const {
    if (steps.empty())
        return false;
    for (const Step &s : steps)
        if (s.status != "pass")
            return false;
    return true;
}

nlohmann::json VerifyReport::to_json() const {
    nlohmann::json j = {{"target", target}, {"kind", kind}, {"passed", passed()}, {"seconds", seconds}};
    j["steps"] = nlohmann::json::array();
    for (const Step &s : steps)
        j["steps"].push_back(
            {{"name", s.name}, {"status", s.status}, {"seconds", s.seconds}, {"detail", s.detail}});
    return j;
}

std::string VerifyReport::to_text() const {
    std::ostringstream out;
    out << "verify " << kind << " " << target << "\n";
    for (const Step &s : steps) {
        out << "  " << std::left << std::setw(5)
            << (s.status == "pass"   ? "PASS"
                : s.status == "fail" ? "FAIL"
                                     : "SKIP")
            << " " << std::setw(16) << s.name << std::right << std::fixed << std::setprecision(3)
            << std::setw(9) << s.seconds << "s  " << s.detail << "\n";
    }
    out << (passed() ? "verification passed" : "verification FAILED") << " in " << std::fixed
        << std::setprecision(3) << seconds << "s\n";
    return out.str();
}

VerifyReport verify_dump(const std::string &dump_path, const std::string &dsn, const BackupConfig &cfg,
                         const std::atomic<bool> *stop) {
    VerifyReport report;
    report.target = dump_path;
    report.kind = "dump";
    const auto t0 = std::chrono::steady_clock::now();
    Runner runner(report);
    std::error_code ec;

    const bool exists = runner.run("file", [&] {
        if (!fs::is_regular_file(dump_path, ec))
            throw StepFailed("no such file");
        const auto size = fs::file_size(dump_path, ec);
        if (ec || size == 0)
            throw StepFailed("the file is empty or unreadable");
        return std::to_string(size) + " bytes";
    });
    const std::string missing = exists ? "" : "the dump file is missing";

    std::optional<Manifest> manifest;
    const std::string manifest_path = manifest_path_for(dump_path);
    const bool have_manifest_file = fs::exists(manifest_path, ec);
    const std::string no_manifest =
        "no manifest " + manifest_path + " (not made by vigild backup create): this check cannot run";
    const std::string unusable_manifest =
        have_manifest_file ? "the manifest is unusable: this check cannot run" : no_manifest;
    runner.run(
        "manifest",
        [&] {
            std::ifstream in(manifest_path);
            try {
                manifest = Manifest::from_json(nlohmann::json::parse(in));
            } catch (const std::exception &e) {
                throw StepFailed(manifest_path + ": " + e.what());
            }
            if (manifest->dump_file != fs::path(dump_path).filename().string())
                throw StepFailed("the manifest describes " + manifest->dump_file + ", not this file");
            return std::to_string(manifest->tables.size()) + " tables";
        },
        have_manifest_file ? "" : no_manifest);

    runner.run(
        "sha256",
        [&] {
            const auto size = static_cast<long long>(fs::file_size(dump_path));
            const std::string sum = sha256_file(dump_path);
            if (sum == manifest->dump_sha256)
                return sum;
            if (size < manifest->dump_size)
                throw StepFailed("SHA-256 mismatch: the file is truncated (" + std::to_string(size) +
                                 " bytes, manifest has " + std::to_string(manifest->dump_size) + ")");
            if (size != manifest->dump_size)
                throw StepFailed("SHA-256 mismatch: the file has " + std::to_string(size) +
                                 " bytes, manifest has " + std::to_string(manifest->dump_size));
            throw StepFailed("SHA-256 mismatch: the content changed (same size), " + sum +
                             " != " + manifest->dump_sha256);
        },
        !missing.empty() ? missing
        : manifest       ? ""
                         : unusable_manifest);

    runner.run(
        "age",
        [&] {
            double created = manifest ? manifest->created_at : 0;
            std::string source = "manifest";
            if (!manifest) {
                struct stat st;
                if (stat(dump_path.c_str(), &st) != 0)
                    throw StepFailed("cannot stat the file");
                created = static_cast<double>(st.st_mtime);
                source = "file modification time (no manifest)";
            }
            const double age = now_epoch() - created;
            const std::string text =
                human_duration(age) + " old by " + source + ", limit " + human_duration(cfg.max_age.count());
            if (cfg.max_age.count() > 0 && age > cfg.max_age.count())
                throw StepFailed("stale: " + text);
            return text;
        },
        missing);

    const ChildDsn child = dsn_for_child(dsn);
    runner.run(
        "pg_restore_list",
        [&] {
            SubprocessResult r =
                run_subprocess({pg_program(cfg.pg_bindir, "pg_restore"), "--list", dump_path}, {}, "", stop);
            if (r.exit_code != 0)
                throw StepFailed("pg_restore --list cannot read the dump: " + r.describe());
            return std::string("the table of contents reads");
        },
        missing);

    // The scratch database lives on the same server; it is dropped whatever happens.
    std::string scratch;
    std::optional<db::Connection> admin;
    const bool restored = runner.run(
        "restore",
        [&] {
            try {
                admin.emplace(db::Connection::open(dsn, "vigild verify"));
            } catch (const db::DbError &) {
                report.database_unreachable = true;
                throw;
            }
            // What earlier verifications left (killed, or their server stopped under them) goes first.
            drop_abandoned_scratch_databases(*admin);
            const std::string space = std::to_string(kScratchLockSpace);
            for (int attempt = 0; attempt < 3 && scratch.empty(); ++attempt) {
                const std::string name = scratch_database_name();
                // Locked before it exists, for as long as this connection lives: no cleanup drops it.
                if (admin->scalar("SELECT pg_try_advisory_lock($1::int, hashtext($2))", {space, name}) != "t")
                    continue;
                try {
                    admin->exec("CREATE DATABASE " + name + " TEMPLATE template0");
                    scratch = name;
                } catch (const db::DbError &e) {
                    if (e.sqlstate() != "42P04") // duplicate_database: pick another name
                        throw;
                    admin->exec_params("SELECT pg_advisory_unlock($1::int, hashtext($2))", {space, name});
                }
            }
            if (scratch.empty())
                throw StepFailed("could not create a scratch database");
            SubprocessResult r = run_subprocess(
                {pg_program(cfg.pg_bindir, "pg_restore"), "--exit-on-error", "--no-owner", "--no-privileges",
                 "--dbname=" + dsn_with(child.dsn, {{"dbname", scratch}}), dump_path},
                child_env(child), "", stop);
            if (r.exit_code != 0)
                throw StepFailed("pg_restore into " + scratch + " failed: " + r.describe());
            return "restored into scratch database " + scratch;
        },
        missing);

    runner.run(
        "tables",
        [&] {
            db::Connection conn = db::Connection::open(dsn_with(dsn, {{"dbname", scratch}}), "vigild verify");
            set_checksum_session(conn);
            const auto actual = table_digests(conn, stop);
            const std::string diff = compare_tables(manifest->tables, actual);
            if (!diff.empty())
                throw StepFailed(diff);
            long long rows = 0;
            for (const auto &t : actual)
                rows += t.rows;
            return std::to_string(actual.size()) + " tables, " + std::to_string(rows) +
                   " rows: counts and checksums match the manifest";
        },
        !restored  ? "the dump did not restore"
        : manifest ? ""
                   : unusable_manifest);

    if (!scratch.empty()) {
        runner.run("drop_scratch", [&] {
            const std::string drop = "DROP DATABASE IF EXISTS " + scratch + " WITH (FORCE)";
            try {
                admin->exec(drop);
            } catch (const db::DbError &e) {
                if (admin->healthy())
                    throw;
                // The connection went with the server (stopped, restarted): once more on a new one,
                // in case it is back. If not, the lock went with the connection, and the next
                // verification drops the database.
                try {
                    db::Connection::open(dsn, "vigild verify").exec(drop);
                    return "dropped " + scratch + " (on a new connection: the first was lost: " + e.what() +
                           ")";
                } catch (const db::DbError &again) {
                    report.database_unreachable = true;
                    throw StepFailed("cannot drop " + scratch + ", the server is unreachable (" +
                                     again.what() + "): the next backup verify drops it");
                }
            }
            return "dropped " + scratch;
        });
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

VerifyReport verify_base_backup(const std::string &directory, bool restore_test, const std::string &dsn,
                                const BackupConfig &cfg, const std::atomic<bool> *stop) {
    VerifyReport report;
    report.target = directory;
    report.kind = "base_backup";
    const auto t0 = std::chrono::steady_clock::now();
    Runner runner(report);
    const bool as_root = geteuid() == 0;
    // PostgreSQL refuses to run as root: the throwaway instance runs as `postgres` then.
    auto as_server_user = [&](std::vector<std::string> argv) {
        if (as_root)
            argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
        return argv;
    };

    const bool verified = runner.run("pg_verifybackup", [&] {
        SubprocessResult r =
            run_subprocess({pg_program(cfg.pg_bindir, "pg_verifybackup"), directory}, {}, "", stop);
        if (r.exit_code != 0)
            throw StepFailed("pg_verifybackup: " + r.describe());
        return std::string("manifest, checksums and WAL verified");
    });
    if (restore_test) {
        runner.run(
            "restore_test",
            [&] {
                char tmpl[] = "/tmp/vigil_restore_XXXXXX";
                if (!mkdtemp(tmpl))
                    throw StepFailed("cannot create a temporary directory");
                const std::string tmp = tmpl;
                const std::string data = tmp + "/data";
                struct Cleanup {
                    std::string dir, data;
                    std::function<std::vector<std::string>(std::vector<std::string>)> wrap;
                    std::string pg_ctl;
                    ~Cleanup() {
                        if (fs::exists(data + "/postmaster.pid"))
                            run_subprocess(wrap({pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"}));
                        std::error_code ec;
                        fs::remove_all(dir, ec);
                    }
                } cleanup{tmp, data, as_server_user, pg_program(cfg.pg_bindir, "pg_ctl")};
                fs::copy(directory, data, fs::copy_options::recursive);
                fs::permissions(data, fs::perms::owner_all, fs::perm_options::replace);
                for (const char *f : {"standby.signal", "recovery.signal", "postmaster.pid"})
                    fs::remove(data + "/" + f);
                if (as_root)
                    run_subprocess({"chown", "-R", "postgres:", tmp});
                // A socket in the copy's directory only, no TCP: nothing else can reach it.
                const std::string port = std::to_string(20000 + static_cast<int>(getpid()) % 30000);
                SubprocessResult started = run_subprocess(
                    as_server_user({pg_program(cfg.pg_bindir, "pg_ctl"), "-D", data, "-l",
                                    tmp + "/server.log", "-w", "-t", "120", "-o",
                                    "-p " + port + " -c listen_addresses='' -c unix_socket_directories='" +
                                        tmp + "' -c archive_mode=off -c shared_preload_libraries=''",
                                    "start"}),
                    {}, "", stop);
                if (started.exit_code != 0) {
                    std::ifstream log(tmp + "/server.log");
                    std::stringstream text;
                    text << log.rdbuf();
                    throw StepFailed("the throwaway instance did not start: " + started.describe() + " " +
                                     text.str().substr(0, 400));
                }
                std::map<std::string, std::string> target{
                    {"host", tmp}, {"port", port}, {"dbname", "postgres"}};
                auto params = parse_dsn(dsn);
                if (params.count("user"))
                    target["user"] = params["user"];
                db::Connection conn = db::Connection::open(build_dsn(target), "vigild verify");
                const std::string dbs = conn.scalar("SELECT count(*) FROM pg_database WHERE datallowconn");
                const std::string tables = conn.scalar("SELECT count(*) FROM pg_class");
                return "throwaway instance started on a copy; " + dbs + " databases, " + tables +
                       " relations in postgres";
            },
            verified ? "" : "pg_verifybackup failed");
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

VerifyReport verify_path(const std::string &target, bool restore_test, const std::string &dsn,
                         const BackupConfig &cfg, const std::atomic<bool> *stop) {
    if (fs::is_directory(target)) {
        if (fs::exists(fs::path(target) / "backup_manifest") || fs::exists(fs::path(target) / "PG_VERSION"))
            return verify_base_backup(target, restore_test, dsn, cfg, stop);
        const auto backups = list_backups(target);
        if (backups.empty())
            throw std::invalid_argument("no backup with a manifest in " + target);
        return verify_dump(backups.front().first, dsn, cfg, stop);
    }
    return verify_dump(target, dsn, cfg, stop);
}

} // namespace vigil::backup
