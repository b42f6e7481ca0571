// sqlite.cpp — the SQLite handles of history/sqlite.hpp.
#include "history/sqlite.hpp"

namespace vigil::history::sqlite {

namespace {

[[noreturn]] void raise(sqlite3 *db, int rc) {
    const int code = db ? sqlite3_extended_errcode(db) : rc;
    const char *message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    throw Error(message ? message : sqlite3_errstr(rc), code ? code : rc);
}

} // namespace

Statement::Statement(sqlite3 *db, const std::string &sql) : db_(db) {
    sqlite3_stmt *stmt = nullptr;
    const int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
    stmt_.reset(stmt);
    if (rc != SQLITE_OK)
        raise(db, rc);
}

void Statement::check(int rc) const {
    if (rc != SQLITE_OK)
        raise(db_, rc);
}

Statement &Statement::bind(int index, double value) {
    check(sqlite3_bind_double(stmt_.get(), index, value));
    return *this;
}

Statement &Statement::bind(int index, long long value) {
    check(sqlite3_bind_int64(stmt_.get(), index, value));
    return *this;
}

Statement &Statement::bind(int index, const std::string &value) {
    check(sqlite3_bind_text(stmt_.get(), index, value.data(), static_cast<int>(value.size()),
                            SQLITE_TRANSIENT));
    return *this;
}

bool Statement::step() {
    const int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    // The error belongs to this use; reset so the statement can run again after it.
    const int code = sqlite3_extended_errcode(db_);
    const std::string message = sqlite3_errmsg(db_);
    sqlite3_reset(stmt_.get());
    throw Error(message, code);
}

void Statement::run() {
    while (step()) {
    }
    reset();
}

void Statement::reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
}

std::string Statement::column_text(int column) const {
    const auto *text = sqlite3_column_text(stmt_.get(), column);
    return text ? std::string(reinterpret_cast<const char *>(text),
                              static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), column)))
                : std::string();
}

Connection::Connection(const std::string &path, int flags) {
    sqlite3 *db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_EXRESCODE, nullptr);
    db_.reset(db);
    if (rc != SQLITE_OK)
        raise(db, rc);
}

void Connection::exec(const std::string &sql) {
    char *message = nullptr;
    const int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        const std::string text = message ? message : sqlite3_errstr(rc);
        sqlite3_free(message);
        throw Error(text, sqlite3_extended_errcode(db_.get()));
    }
}

std::string Connection::query_text(const std::string &sql) {
    Statement s(db_.get(), sql);
    return s.step() ? s.column_text(0) : std::string();
}

long long Connection::query_int(const std::string &sql) {
    Statement s(db_.get(), sql);
    return s.step() ? s.column_int(0) : 0;
}

Transaction::Transaction(Connection &db) : db_(db) {
    db_.exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
    if (!done_)
        sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

} // namespace vigil::history::sqlite
