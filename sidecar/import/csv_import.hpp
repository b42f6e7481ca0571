// csv_import.hpp — `vigild import`: a CSV file streamed into a table through COPY FROM STDIN, in
// constant memory, with bad rows (malformed, wrong column count, invalid UTF-8, rejected by a
// constraint or a type) either aborting the whole import or set aside in a reject file.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "db.hpp"

namespace vigil::csv {

// One CSV record as it appears in the file: PostgreSQL's CSV rules (RFC 4180, "" inside quotes,
// newlines inside quoted fields).
struct Record {
    std::string raw;                                         // the bytes, line terminator included
    std::vector<std::pair<std::size_t, std::size_t>> fields; // [begin, end) in raw, quotes included
    long long line = 0;                                      // physical line where the record starts
    bool unterminated_quote = false;                         // the file ended inside a quoted field
    std::size_t content_size() const;                        // raw without the line terminator
    std::string value(std::size_t field) const;              // unquoted text of a field
};

// Reads records from a file descriptor with a fixed-size buffer.
class Reader {
  public:
    // Reads `buffer_size` bytes at a time (the fuzz target passes small sizes, so that records
    // straddle reads).
    explicit Reader(int fd, std::size_t buffer_size = 1 << 20)
        : fd_(fd), buf_(buffer_size ? buffer_size : 1) {}
    bool next(Record &record); // false at the end of input
    long long bytes_read() const noexcept { return bytes_; }

  private:
    bool fill();
    int fd_;
    std::vector<char> buf_;
    std::size_t pos_ = 0, len_ = 0;
    bool eof_ = false;
    long long line_ = 1, bytes_ = 0;
};

// Offset of the first byte that is not valid UTF-8, or npos.
std::size_t invalid_utf8_offset(const char *data, std::size_t size);

// The client-side checks of one record: empty when fine, else the reason naming the column.
std::string check_record(const Record &record, const std::vector<std::string> &columns);

enum class OnError { abort, skip };

struct ImportOptions {
    std::string table;
    std::string path; // "-" for standard input
    bool header = true;
    std::vector<std::string> columns; // with --no-header
    OnError on_error = OnError::abort;
    std::string reject_file;
    std::size_t batch_rows = 5000; // skip mode: rows per savepoint-protected COPY
    bool progress = false;         // a progress bar on stderr (drawn on a terminal only)
};

// Why an import did not run, or stopped before its end (nothing was imported).
class ImportError : public std::runtime_error {
  public:
    enum class Kind {
        reject_file_needed,    // skip mode without a reject file: bad rows would be lost
        columns_needed,        // no header row and no column names
        no_table,              // the target table does not exist
        cannot_open,           // the input cannot be opened
        cannot_read,           // reading the input failed
        bad_columns,           // the header is not UTF-8, or a column is named twice or not in the table
        cannot_create_rejects, // the reject file cannot be created
        cannot_write_rejects,  // writing the reject file failed
        connection_lost,       // the server went away during the import: the message says how far it got
                         // and what was imported (nothing; unknown only if the COMMIT's answer was lost)
    };
    ImportError(Kind kind, const std::string &message) : std::runtime_error(message), kind_(kind) {}
    Kind kind() const noexcept { return kind_; }

  private:
    Kind kind_;
};

struct ImportResult {
    long long rows_read = 0, imported = 0, rejected = 0;
    double seconds = 0;
    long long bytes = 0;
    std::string first_error; // abort mode: why nothing was imported
    double rows_per_sec() const { return seconds > 0 ? static_cast<double>(rows_read) / seconds : 0; }
};

// Runs the import. Throws ImportError when it cannot run (unknown table or column, unreadable
// file, ...); in abort mode a bad row rolls everything back and the result names it in first_error.
ImportResult import_csv(db::Connection &conn, const ImportOptions &options);

} // namespace vigil::csv
