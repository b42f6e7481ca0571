// backup.hpp — `vigild backup create` and `vigild backup verify`: a pg_dump plus a manifest of
// per-table row counts and checksums from the same snapshot, and a verification that proves
// the dump restores and holds exactly those rows.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config.hpp"

namespace vigil::backup {

// One table's contents as the manifest records them.
struct TableDigest {
    std::string schema, name;
    long long rows = 0;
    std::string checksum; // sum of a 64-bit hash of each row's text, as a decimal string
    bool operator==(const TableDigest &o) const {
        return schema == o.schema && name == o.name && rows == o.rows && checksum == o.checksum;
    }
};

struct Manifest {
    std::string database;
    std::string server_version;
    std::string dump_file; // file name, in the manifest's directory
    long long dump_size = 0;
    std::string dump_sha256;
    double created_at = 0; // Unix time of the snapshot
    double duration_seconds = 0;
    std::vector<TableDigest> tables;

    nlohmann::json to_json() const;
    static Manifest from_json(const nlohmann::json &j); // throws std::runtime_error
};

// What `backup create` made.
struct CreateResult {
    std::string dump_path, manifest_path;
    Manifest manifest;
    std::vector<std::string> removed; // dumps removed by retention
};

// There is nowhere to write the backup: the configuration gives no backup directory.
class NoBackupDirectory : public std::runtime_error {
  public:
    NoBackupDirectory() : std::runtime_error("no backup directory given") {}
};

// Dumps the database `dsn` points at into `cfg.directory` and writes its manifest, then applies
// retention. Throws NoBackupDirectory, or std::runtime_error (nothing is left behind on failure).
CreateResult create(const std::string &dsn, const BackupConfig &cfg);

// The manifest path belonging to a dump path.
std::string manifest_path_for(const std::string &dump_path);
// Completed backups (dump + manifest) in a directory, newest first.
std::vector<std::pair<std::string, Manifest>> list_backups(const std::string &directory);
// Removes backups beyond cfg.retention_count and older than cfg.retention_days; never `keep`.
std::vector<std::string> apply_retention(const BackupConfig &cfg, const std::string &keep);

// The hex SHA-256 of a file; throws std::runtime_error when it cannot be read.
std::string sha256_file(const std::string &path);

// One verification step.
struct Step {
    std::string name;
    std::string status; // pass, fail, skip
    double seconds = 0;
    std::string detail;
};

struct VerifyReport {
    std::string target;
    std::string kind; // dump or base_backup
    std::vector<Step> steps;
    double seconds = 0;
    bool database_unreachable = false; // the restore could not connect
    bool passed() const;               // every step passed (a skipped step is not a pass)
    nlohmann::json to_json() const;
    std::string to_text() const;
};

// Verifies a custom-format dump (and its manifest when there is one), restoring it into a
// scratch database on the server `dsn` points at. `stop` ends a running restore early.
VerifyReport verify_dump(const std::string &dump_path, const std::string &dsn, const BackupConfig &cfg,
                         const std::atomic<bool> *stop = nullptr);

// Verifies a base backup directory with pg_verifybackup; with `restore_test`, starts a throwaway
// instance on a copy of it and queries it. `dsn` supplies the user name to connect as.
VerifyReport verify_base_backup(const std::string &directory, bool restore_test, const std::string &dsn,
                                const BackupConfig &cfg, const std::atomic<bool> *stop = nullptr);

// Verifies `target`: a dump, a base backup directory (it has backup_manifest), or a backup
// directory, whose newest backup is verified. Throws std::invalid_argument when the directory
// holds no backup.
VerifyReport verify_path(const std::string &target, bool restore_test, const std::string &dsn,
                         const BackupConfig &cfg, const std::atomic<bool> *stop = nullptr);

// A scratch database name no user database can have: prefix, process id and 64 random bits.
std::string scratch_database_name();

// The advisory lock (two int4 keys: this and hashtext(name)) a verification holds on its admin
// connection from before it creates its scratch database until it is done with it.
constexpr int kScratchLockSpace = 0x56474C56; // "VGLV"

} // namespace vigil::backup

namespace vigil::db {
class Connection;
}

namespace vigil::backup {

// Fixes the settings that shape a row's text (time zone, date and float output) so that the
// checksums made at backup time and at verification time compare.
void set_checksum_session(db::Connection &conn);
// Drops the scratch databases that verifications which did not finish left behind (vigild killed
// with SIGKILL, the server stopped mid-restore): every vigil_verify_<pid>_<hex> database whose
// advisory lock (kScratchLockSpace) no session holds. A verification under way holds its lock, from
// any host and through any database of the server, so it is never dropped, however old; the pid
// in the name is not used, since the vigild that made it may run on another machine. Returns the
// names dropped; one that cannot be dropped (another role's) is logged and left.
std::vector<std::string> drop_abandoned_scratch_databases(db::Connection &admin);

// Every user table's row count and checksum, as the connection's snapshot sees them.
// `progress(done, total)` is called after each table when given.
std::vector<TableDigest> table_digests(db::Connection &conn, const std::atomic<bool> *stop = nullptr,
                                       const std::function<void(std::size_t, std::size_t)> &progress = {});

} // namespace vigil::backup
