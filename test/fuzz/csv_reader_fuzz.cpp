// csv_reader_fuzz.cpp — the CSV reader of `vigild import` (csv::Reader, Record, check_record,
// invalid_utf8_offset) on arbitrary bytes. The whole input is the file. It is read three times,
// with a buffer bigger than the input, with one of 1..16 bytes (chosen by the first byte) and,
// for short inputs, with one byte per read; every reading must give the same records, and every
// record must be what PostgreSQL's CSV rules make of the bytes:
//   - the records' raw bytes, joined, are the input; bytes_read() ends at the input's size;
//   - a record ends at the first newline outside quotes (only the last may end otherwise), its
//     fields are cut at the commas outside quotes and cover the record without its terminator;
//   - unterminated_quote is set exactly when the record has an odd number of quotes;
//   - line numbers count the newlines before the record;
//   - invalid_utf8_offset agrees with an independent validator (Unicode's table of well-formed
//     sequences), and check_record accepts a record exactly when nothing is wrong with it.
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include "fuzz_support.hpp"
#include "import/csv_import.hpp"

namespace {

using vigil::csv::Reader;
using vigil::csv::Record;
using vigil::fuzz::printable;

// Unicode 15, table 3-7: the well-formed UTF-8 byte sequences. The offset of the first byte
// that does not start one, or npos.
std::size_t reference_invalid_utf8(const std::string &s, std::size_t b, std::size_t e) {
    std::size_t i = b;
    while (i < e) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        unsigned char lo = 0x80, hi = 0xBF; // the range of the second byte
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c == 0xE0)
            len = 3, lo = 0xA0;
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
            len = 3;
        else if (c == 0xED)
            len = 3, hi = 0x9F;
        else if (c == 0xF0)
            len = 4, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3)
            len = 4;
        else if (c == 0xF4)
            len = 4, hi = 0x8F;
        else
            return i - b;
        if (e - i < len)
            return i - b;
        const auto second = static_cast<unsigned char>(s[i + 1]);
        if (second < lo || second > hi)
            return i - b;
        for (std::size_t k = 2; k < len; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
                return i - b;
        i += len;
    }
    return std::string::npos;
}

// A memory file holding the input, rewritten for each input.
int input_file(const std::uint8_t *data, std::size_t size) {
    static const int fd = memfd_create("csv_reader_fuzz", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0, std::string("memfd_create: ") + std::strerror(errno));
    FUZZ_CHECK(ftruncate(fd, 0) == 0, std::strerror(errno));
    for (std::size_t done = 0; done < size;) {
        const ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
        FUZZ_CHECK(n > 0, std::strerror(errno));
        done += static_cast<std::size_t>(n);
    }
    return fd;
}

std::vector<Record> read_all(int fd, std::size_t buffer_size, const std::string &input) {
    FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0, std::strerror(errno));
    Reader reader(fd, buffer_size);
    std::vector<Record> out;
    Record r;
    std::size_t consumed = 0;
    while (reader.next(r)) {
        FUZZ_CHECK(!r.raw.empty(), "an empty record");
        consumed += r.raw.size();
        FUZZ_CHECK(consumed <= static_cast<std::size_t>(reader.bytes_read()),
                   "records hold more bytes than were read");
        FUZZ_CHECK(static_cast<std::size_t>(reader.bytes_read()) <= input.size(),
                   "bytes_read " + std::to_string(reader.bytes_read()) + " past the input's " +
                       std::to_string(input.size()));
        out.push_back(r);
    }
    FUZZ_CHECK(reader.bytes_read() == static_cast<long long>(input.size()),
               "bytes_read " + std::to_string(reader.bytes_read()) + " at the end of " +
                   std::to_string(input.size()) + " bytes");
    FUZZ_CHECK(!reader.next(r), "a record after the end");
    return out;
}

void check_shape(const Record &r, bool last, long long line) {
    const std::string what = "record at line " + std::to_string(r.line) + " " + printable(r.raw);
    FUZZ_CHECK(r.line == line, what + ": expected line " + std::to_string(line));
    FUZZ_CHECK(last || r.raw.back() == '\n', what + ": not the last record, yet no newline");
    // One pass with the quote state: newlines and commas count only outside quotes.
    bool quoted = false;
    std::vector<std::size_t> commas;
    for (std::size_t k = 0; k < r.raw.size(); ++k) {
        const char c = r.raw[k];
        if (c == '"')
            quoted = !quoted;
        else if (!quoted && c == ',')
            commas.push_back(k);
        else if (!quoted && c == '\n')
            FUZZ_CHECK(k + 1 == r.raw.size(), what + ": a newline outside quotes inside the record");
    }
    FUZZ_CHECK(r.unterminated_quote == quoted, what + ": unterminated_quote disagrees with the quotes");
    FUZZ_CHECK(!r.unterminated_quote || last, what + ": an unterminated quote before the end");

    FUZZ_CHECK(r.fields.size() == commas.size() + 1, what + ": " + std::to_string(r.fields.size()) +
                                                         " fields for " + std::to_string(commas.size()) +
                                                         " commas");
    const std::size_t content = r.content_size();
    FUZZ_CHECK(content <= r.raw.size(), what);
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
        const auto [b, e] = r.fields[i];
        const std::size_t want_b = i == 0 ? 0 : commas[i - 1] + 1;
        const std::size_t want_e = i + 1 < r.fields.size() ? commas[i] : content;
        FUZZ_CHECK(b == want_b && e == want_e, what + ": field " + std::to_string(i) + " is [" +
                                                   std::to_string(b) + ", " + std::to_string(e) +
                                                   "), expected [" + std::to_string(want_b) + ", " +
                                                   std::to_string(want_e) + ")");
        const std::string slice = r.raw.substr(b, e - b);
        const std::string value = r.value(i);
        if (slice.find('"') == std::string::npos)
            FUZZ_CHECK(value == slice,
                       what + ": unquoted field " + printable(slice) + " read as " + printable(value));
        else
            FUZZ_CHECK(value.size() < slice.size(), what + ": quoted field " + printable(slice));
    }
    bool threw = false;
    try {
        (void)r.value(r.fields.size());
    } catch (const std::out_of_range &) {
        threw = true;
    }
    FUZZ_CHECK(threw, what + ": value() past the last field did not throw std::out_of_range");
}

bool same(const Record &a, const Record &b) {
    return a.raw == b.raw && a.fields == b.fields && a.line == b.line &&
           a.unterminated_quote == b.unterminated_quote;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string input(reinterpret_cast<const char *>(data), size);
    const int fd = input_file(data, size);

    // A buffer bigger than the input, as vigild's 1 MiB one is for a small file (not 1 MiB
    // itself: a fresh megabyte per input costs more than the rest of the target).
    const std::vector<Record> records = read_all(fd, size + 1, input);
    std::vector<std::size_t> buffers{size > 0 ? 1u + data[0] % 16u : 1u};
    if (size <= 64)
        buffers.push_back(1);
    for (std::size_t buffer : buffers) {
        const std::vector<Record> again = read_all(fd, buffer, input);
        FUZZ_CHECK(again.size() == records.size(), "with a " + std::to_string(buffer) +
                                                       "-byte buffer: " + std::to_string(again.size()) +
                                                       " records, not " + std::to_string(records.size()));
        for (std::size_t i = 0; i < records.size(); ++i)
            FUZZ_CHECK(same(again[i], records[i]), "with a " + std::to_string(buffer) +
                                                       "-byte buffer, record " + std::to_string(i) +
                                                       " differs: " + printable(again[i].raw));
    }

    std::string joined;
    long long line = 1;
    for (std::size_t i = 0; i < records.size(); ++i) {
        check_shape(records[i], i + 1 == records.size(), line);
        joined += records[i].raw;
        for (char c : records[i].raw)
            line += c == '\n';
    }
    FUZZ_CHECK(joined == input, "the records do not add up to the input");

    const std::size_t whole = vigil::csv::invalid_utf8_offset(input.data(), input.size());
    FUZZ_CHECK(whole == reference_invalid_utf8(input, 0, input.size()),
               "invalid_utf8_offset " + std::to_string(whole) + " on " + printable(input));

    // The first record as the header, as `vigild import` takes it; check_record on the others.
    if (records.empty())
        return 0;
    std::vector<std::string> columns;
    for (std::size_t i = 0; i < records[0].fields.size(); ++i)
        columns.push_back(records[0].value(i));
    for (const Record &r : records) {
        bool utf8_ok = true;
        for (const auto &[b, e] : r.fields) {
            const std::size_t got = vigil::csv::invalid_utf8_offset(r.raw.data() + b, e - b);
            const std::size_t want = reference_invalid_utf8(r.raw, b, e);
            FUZZ_CHECK(got == want, "invalid_utf8_offset " + std::to_string(got) + ", expected " +
                                        std::to_string(want) + " in " + printable(r.raw.substr(b, e - b)));
            utf8_ok = utf8_ok && want == std::string::npos;
        }
        const bool end_marker = r.raw.compare(0, r.content_size(), "\\.") == 0 && r.content_size() == 2;
        const bool fine =
            !r.unterminated_quote && !end_marker && r.fields.size() == columns.size() && utf8_ok;
        const std::string reason = vigil::csv::check_record(r, columns);
        FUZZ_CHECK(reason.empty() == fine,
                   "check_record says " + printable(reason) + " of " + printable(r.raw));
        if (!utf8_ok && !r.unterminated_quote && !end_marker && r.fields.size() == columns.size())
            FUZZ_CHECK(reason.find("invalid UTF-8") != std::string::npos,
                       "check_record says " + printable(reason));
    }
    return 0;
}
