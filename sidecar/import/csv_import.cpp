// csv_import.cpp — CSV reading and the COPY-based import (abort and skip modes).
#include "import/csv_import.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <regex>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "progress.hpp"

namespace vigil::csv {

// ---- reading ------------------------------------------------------------------------------------

std::size_t Record::content_size() const {
    std::size_t n = raw.size();
    if (n > 0 && raw[n - 1] == '\n')
        --n;
    if (n > 0 && raw[n - 1] == '\r')
        --n;
    return n;
}

std::string Record::value(std::size_t field) const {
    const auto [b, e] = fields.at(field);
    std::string out;
    out.reserve(e - b);
    bool quoted = false;
    for (std::size_t k = b; k < e; ++k) {
        const char c = raw[k];
        if (c == '"') {
            if (quoted && k + 1 < e && raw[k + 1] == '"') {
                out += '"';
                ++k;
            } else {
                quoted = !quoted;
            }
        } else {
            out += c;
        }
    }
    return out;
}

bool Reader::fill() {
    if (eof_)
        return false;
    for (;;) {
        const ssize_t n = ::read(fd_, buf_.data(), buf_.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw ImportError(ImportError::Kind::cannot_read,
                              std::string("cannot read the CSV input: ") + std::strerror(errno));
        pos_ = 0;
        len_ = static_cast<std::size_t>(n);
        bytes_ += n;
        if (n == 0)
            eof_ = true;
        return n > 0;
    }
}

bool Reader::next(Record &r) {
    r.raw.clear();
    r.fields.clear();
    r.unterminated_quote = false;
    if (pos_ == len_ && !fill())
        return false;
    r.line = line_;
    bool quoted = false;
    std::size_t field_start = 0;
    for (;;) {
        if (pos_ == len_ && !fill()) {
            // The last record has no line terminator.
            r.fields.emplace_back(field_start, r.content_size());
            r.unterminated_quote = quoted;
            return true;
        }
        const char *p = buf_.data() + pos_;
        const char *end = buf_.data() + len_;
        const char *q = p;
        bool done = false;
        while (q < end) {
            const char c = *q++;
            if (quoted) {
                if (c == '"')
                    quoted = false; // "" inside quotes closes and reopens: same field either way
                else if (c == '\n')
                    ++line_;
            } else if (c == '"') {
                quoted = true;
            } else if (c == ',') {
                const std::size_t at = r.raw.size() + static_cast<std::size_t>(q - p) - 1;
                r.fields.emplace_back(field_start, at);
                field_start = at + 1;
            } else if (c == '\n') {
                ++line_;
                done = true;
                break;
            }
        }
        r.raw.append(p, static_cast<std::size_t>(q - p));
        pos_ = static_cast<std::size_t>(q - buf_.data());
        if (done) {
            r.fields.emplace_back(field_start, std::max(field_start, r.content_size()));
            return true;
        }
    }
}

std::size_t invalid_utf8_offset(const char *data, std::size_t size) {
    const auto *s = reinterpret_cast<const unsigned char *>(data);
    std::size_t i = 0;
    while (i < size) {
        const unsigned char c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t n;
        unsigned min;
        unsigned cp;
        if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return i;
        }
        if (i + n >= size) // truncated sequence
            return i;
        for (std::size_t k = 1; k <= n; ++k) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
        if (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return i;
        i += n + 1;
    }
    return std::string::npos;
}

namespace {

std::string column_label(const std::vector<std::string> &columns, std::size_t i) {
    return "column " + std::to_string(i + 1) + (i < columns.size() ? " (" + columns[i] + ")" : "");
}

} // namespace

std::string check_record(const Record &r, const std::vector<std::string> &columns) {
    const std::string where = "line " + std::to_string(r.line);
    if (r.unterminated_quote)
        return where + ": unterminated quoted field: the file ends inside quotes opened on this line";
    if (r.raw.compare(0, r.content_size(), "\\.") == 0 && r.content_size() == 2)
        return where + ": a line holding only \\. would end COPY early; quote it as \"\\.\"";
    if (r.fields.size() != columns.size())
        return where + ": expected " + std::to_string(columns.size()) + " columns, found " +
               std::to_string(r.fields.size());
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
        const auto [b, e] = r.fields[i];
        const std::size_t bad = invalid_utf8_offset(r.raw.data() + b, e - b);
        if (bad != std::string::npos) {
            long long line = r.line;
            for (std::size_t k = 0; k < b + bad; ++k)
                line += r.raw[k] == '\n';
            char byte[8];
            std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(r.raw[b + bad]));
            return "line " + std::to_string(line) + ", " + column_label(columns, i) +
                   ": invalid UTF-8 (byte " + byte + " at character " + std::to_string(bad + 1) +
                   " of the field)";
        }
    }
    return "";
}

// ---- importing ----------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;

std::string field(const db::Result &r, int code) {
    const char *v = PQresultErrorField(r.get(), code);
    return v ? v : "";
}

// The server's reason for failing a COPY, with the line of the file it points to.
// `line_of` maps COPY's line number (the n-th row sent) to the file's physical line, when known.
std::string server_reason(const db::Result &r, const std::function<long long(long long)> &line_of) {
    const std::string context = field(r, PG_DIAG_CONTEXT);
    std::string where;
    static const std::regex copy_line(R"(COPY [^,]+, line (\d+)(, column ([^:]+))?)");
    std::smatch m;
    const bool has_line = std::regex_search(context, m, copy_line);
    // Without a COPY line (a foreign key checked at the end of the statement) the caller may
    // still know the line: skip mode sends a bad row alone.
    const long long n = has_line ? std::stoll(m[1]) : -1;
    const long long line = line_of ? line_of(n) : -1;
    if (line > 0)
        where = "line " + std::to_string(line);
    else if (has_line)
        where = "row " + std::to_string(n);
    if (has_line && m[3].matched)
        where += ", column " + m[3].str();
    if (!where.empty())
        where += ": ";
    std::string message = field(r, PG_DIAG_MESSAGE_PRIMARY);
    if (message.empty())
        message = r.error_message();
    const std::string detail = field(r, PG_DIAG_MESSAGE_DETAIL);
    const std::string state = field(r, PG_DIAG_SQLSTATE);
    return where + message + (detail.empty() ? "" : " (" + detail + ")") +
           (state.empty() ? "" : " [SQLSTATE " + state + "]");
}

// Ends a COPY and returns its result (the first non-null one), draining the rest. A COPY that
// failed because the connection went is not a rejection of its rows: that throws.
db::Result finish_copy(PGconn *c, const char *error) {
    if (PQputCopyEnd(c, error) != 1)
        throw db::DbError(std::string("cannot end COPY: ") + PQerrorMessage(c), "08006");
    db::Result first(PQgetResult(c));
    while (db::Result more{PQgetResult(c)})
        ;
    if (PQstatus(c) != CONNECTION_OK)
        throw db::DbError("COPY failed: " + (first ? first.error_message() : std::string(PQerrorMessage(c))),
                          "08006");
    return first;
}

void start_copy(db::Connection &conn, const std::string &sql) {
    db::Result r(PQexec(conn.get(), sql.c_str()));
    if (!r || r.status() != PGRES_COPY_IN)
        db::check(std::move(r), conn);
}

void put(db::Connection &conn, const std::string &data) {
    if (!data.empty() && PQputCopyData(conn.get(), data.data(), static_cast<int>(data.size())) != 1)
        throw db::DbError("COPY failed: " + conn.error_message(), "08006");
}

void append_row(std::string &out, const Record &r) {
    out += r.raw;
    if (r.raw.empty() || r.raw.back() != '\n')
        out += '\n';
}

// COPY counts physical lines of the data (a quoted newline starts a new one) and reports the
// line where the failing row ends; returns the file line where that row starts, rescanning the
// file only to explain an error.
long long physical_line(const std::string &path, bool header, long long copy_line) {
    if (copy_line <= 0)
        return -1;
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0)
        return -1;
    const long long target = copy_line + (header ? 1 : 0);
    Reader reader(fd);
    Record r;
    long long found = -1;
    while (reader.next(r)) {
        long long last = r.line;
        for (std::size_t k = 0; k < r.content_size(); ++k)
            last += r.raw[k] == '\n';
        if (target >= r.line && target <= last) {
            found = r.line;
            break;
        }
    }
    ::close(fd);
    return found;
}

std::string csv_quote(const std::string &s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"')
            out += '"';
        out += c;
    }
    return out + "\"";
}

// The progress line: a bar when the size is known (a file), else the rows so far.
void show_progress(ProgressLine &line, long long total_bytes, long long bytes, long long rows) {
    if (!line.due())
        return;
    const double secs = line.elapsed_seconds();
    const double rate = secs > 0 ? rows / secs : 0;
    if (total_bytes > 0) {
        const int pct =
            static_cast<int>(100.0 * static_cast<double>(bytes) / static_cast<double>(total_bytes));
        const int filled = pct * 30 / 100;
        line.update(ProgressLine::format("[%s%s] %3d%%  %lld rows  %.0f rows/s",
                                         std::string(filled, '#').c_str(),
                                         std::string(30 - filled, ' ').c_str(), pct, rows, rate));
    } else {
        line.update(ProgressLine::format("%lld rows  %.0f rows/s", rows, rate));
    }
}

} // namespace

namespace {

// How far an import got: what import_csv reports when the connection is lost under it.
struct Progress {
    ImportResult result;
    Record record;           // the last one read
    std::string table;       // as the server names it
    bool committing = false; // the COMMIT was sent
};

// The import itself; import_csv turns a lost connection into its report.
ImportResult import_rows(db::Connection &conn, const ImportOptions &o, Progress &progress_so_far) {
    ImportResult &result = progress_so_far.result;
    const auto started = Clock::now();
    if (o.on_error == OnError::skip && o.reject_file.empty())
        throw ImportError(ImportError::Kind::reject_file_needed,
                          "skipping bad rows needs a reject file to put them in, so that none is lost");
    if (!o.header && o.columns.empty())
        throw ImportError(ImportError::Kind::columns_needed,
                          "without a header row the columns must be named");

    // The table and its columns, checked before anything is read into it.
    std::string &table = progress_so_far.table;
    try {
        table = conn.scalar("SELECT $1::regclass::text", {o.table});
    } catch (const db::DbError &e) {
        throw ImportError(ImportError::Kind::no_table, "table " + o.table + ": " + e.what());
    }

    const bool from_stdin = o.path == "-";
    const int fd = from_stdin ? 0 : ::open(o.path.c_str(), O_RDONLY);
    if (fd < 0)
        throw ImportError(ImportError::Kind::cannot_open,
                          "cannot open " + o.path + ": " + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() {
            if (fd > 0)
                ::close(fd);
        }
    } closer{from_stdin ? -1 : fd};
    struct stat st {};
    const long long size = (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ? st.st_size : 0;

    Reader reader(fd);
    Record &rec = progress_so_far.record;
    std::vector<std::string> columns = o.columns;
    if (o.header) {
        if (!reader.next(rec)) {
            spdlog::warn("{} is empty: no header row and no data, nothing to import", o.path);
            result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
            return result;
        }
        if (rec.raw.compare(0, 3, "\xEF\xBB\xBF") == 0) { // a UTF-8 byte-order mark
            rec.raw.erase(0, 3);
            for (auto &[b, e] : rec.fields) {
                b = b >= 3 ? b - 3 : 0;
                e = e >= 3 ? e - 3 : 0;
            }
        }
        if (invalid_utf8_offset(rec.raw.data(), rec.raw.size()) != std::string::npos)
            throw ImportError(ImportError::Kind::bad_columns, "line 1: the header row is not valid UTF-8");
        columns.clear();
        for (std::size_t i = 0; i < rec.fields.size(); ++i)
            columns.push_back(rec.value(i));
    }
    std::string column_list;
    for (std::size_t i = 0; i < columns.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j)
            if (columns[j] == columns[i])
                throw ImportError(ImportError::Kind::bad_columns,
                                  "column \"" + columns[i] + "\" is named twice");
        if (conn.scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2"
                        " AND attnum > 0 AND NOT attisdropped",
                        {o.table, columns[i]}) != "1")
            throw ImportError(ImportError::Kind::bad_columns, "column \"" + columns[i] + "\" " +
                                                                  (o.header ? "named in the header " : "") +
                                                                  "does not exist in table " + table);
        char *quoted = PQescapeIdentifier(conn.get(), columns[i].c_str(), columns[i].size());
        column_list += (i ? ", " : "") + std::string(quoted);
        PQfreemem(quoted);
    }
    const std::string copy_sql = "COPY " + table + " (" + column_list + ") FROM STDIN WITH (FORMAT csv)";
    ProgressLine progress(std::chrono::milliseconds(250), o.progress);

    conn.exec("BEGIN");
    // Deferrable constraints are checked per COPY, so they reject rows rather than the commit.
    conn.exec("SET CONSTRAINTS ALL IMMEDIATE");

    if (o.on_error == OnError::abort) {
        start_copy(conn, copy_sql);
        std::string chunk;
        chunk.reserve(1 << 18);
        while (reader.next(rec)) {
            ++result.rows_read;
            std::string reason = check_record(rec, columns);
            if (!reason.empty()) {
                finish_copy(conn.get(), "vigild import: bad row");
                conn.exec("ROLLBACK");
                result.first_error = reason;
                result.bytes = reader.bytes_read();
                result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
                return result;
            }
            append_row(chunk, rec);
            if (chunk.size() >= (1 << 18)) {
                put(conn, chunk);
                chunk.clear();
                show_progress(progress, size, reader.bytes_read(), result.rows_read);
            }
        }
        put(conn, chunk);
        db::Result r = finish_copy(conn.get(), nullptr);
        if (!r || r.status() != PGRES_COMMAND_OK) {
            if (!r)
                throw db::DbError("COPY failed: " + conn.error_message(), "08006");
            result.first_error = server_reason(
                r, [&](long long n) { return from_stdin ? -1 : physical_line(o.path, o.header, n); });
            conn.exec("ROLLBACK");
        } else {
            progress_so_far.committing = true;
            conn.exec("COMMIT");
            result.imported = result.rows_read;
        }
    } else {
        std::unique_ptr<std::FILE, int (*)(std::FILE *)> rejects(std::fopen(o.reject_file.c_str(), "w"),
                                                                 &std::fclose);
        if (!rejects)
            throw ImportError(ImportError::Kind::cannot_create_rejects,
                              "cannot write " + o.reject_file + ": " + std::strerror(errno));
        std::fputs("line,error,row\n", rejects.get());
        auto reject = [&](const Record &r, const std::string &reason) {
            ++result.rejected;
            const std::string row = r.raw.substr(0, r.content_size());
            std::fprintf(rejects.get(), "%lld,%s,%s\n", r.line, csv_quote(reason).c_str(),
                         csv_quote(row).c_str());
        };
        std::vector<Record> batch;
        std::string data;
        // COPYs batch[b, e) inside a savepoint; when the server rejects it, halves it until the
        // bad rows are alone, so every good row still gets in.
        std::function<void(std::size_t, std::size_t)> copy_range = [&](std::size_t b, std::size_t e) {
            conn.exec("SAVEPOINT vigil_import");
            start_copy(conn, copy_sql);
            data.clear();
            for (std::size_t i = b; i < e; ++i)
                append_row(data, batch[i]);
            put(conn, data);
            db::Result r = finish_copy(conn.get(), nullptr);
            if (!r)
                throw db::DbError("COPY failed: " + conn.error_message(), "08006");
            if (r.status() == PGRES_COMMAND_OK) {
                conn.exec("RELEASE SAVEPOINT vigil_import");
                result.imported += static_cast<long long>(e - b);
                return;
            }
            conn.exec("ROLLBACK TO SAVEPOINT vigil_import");
            conn.exec("RELEASE SAVEPOINT vigil_import");
            if (e - b == 1) {
                reject(batch[b], server_reason(r, [&](long long) { return batch[b].line; }));
                return;
            }
            const std::size_t mid = b + (e - b) / 2;
            copy_range(b, mid);
            copy_range(mid, e);
        };
        auto flush = [&] {
            if (!batch.empty())
                copy_range(0, batch.size());
            batch.clear();
            show_progress(progress, size, reader.bytes_read(), result.rows_read);
        };
        while (reader.next(rec)) {
            ++result.rows_read;
            std::string reason = check_record(rec, columns);
            if (!reason.empty()) {
                reject(rec, reason);
                continue;
            }
            batch.push_back(rec);
            if (batch.size() >= o.batch_rows)
                flush();
        }
        flush();
        if (std::fflush(rejects.get()) != 0)
            throw ImportError(ImportError::Kind::cannot_write_rejects,
                              "cannot write " + o.reject_file + ": " + std::strerror(errno));
        progress_so_far.committing = true;
        conn.exec("COMMIT");
    }
    result.bytes = reader.bytes_read();
    result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return result;
}

} // namespace

ImportResult import_csv(db::Connection &conn, const ImportOptions &o) {
    Progress p;
    try {
        return import_rows(conn, o, p);
    } catch (const db::DbError &e) {
        if (conn.healthy())
            throw;
        // The connection lost (the server stopped or crashed, the network went): the import's one
        // transaction went with it, so nothing of the file is in the table, and the error says so,
        // with how far the import got and what the reject file holds (closed by now: whole lines
        // only). Only when the COMMIT's answer is what was lost can the outcome not be known.
        const std::string source = o.path == "-" ? "standard input" : o.path;
        std::string what;
        if (p.committing)
            what = "while committing: the import may or may not have been committed (every row or none);"
                   " count the rows of " +
                   p.table + " before running it again";
        else
            what = (p.result.rows_read > 0
                        ? "after " + std::to_string(p.result.rows_read) + " row(s) read, up to line " +
                              std::to_string(p.record.line) + " of " + source
                        : "before a row of " + source + " was read") +
                   ": nothing was imported (the import is one transaction, and the server rolled it back)";
        if (o.on_error == OnError::skip)
            what += "; the reject file " + o.reject_file + " holds the " + std::to_string(p.result.rejected) +
                    (p.result.rejected == 1 ? " row" : " rows") + " rejected up to then";
        throw ImportError(ImportError::Kind::connection_lost,
                          "the connection to the server was lost " + what + ": " + e.what());
    }
}

} // namespace vigil::csv
