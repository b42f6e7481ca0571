// fuzz_support.hpp — what every fuzz target shares: the entry point's declaration, a check that
// aborts (libFuzzer and the replay driver both report an abort as a crash) and a reader that
// cuts the input into typed pieces.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size);

namespace vigil::fuzz {

[[noreturn]] inline void fail(const char *file, int line, const char *what, const std::string &detail) {
    std::fprintf(stderr, "%s:%d: fuzz invariant violated: %s\n", file, line, what);
    if (!detail.empty())
        std::fprintf(stderr, "  %s\n", detail.c_str());
    std::abort();
}

// Printable form of bytes for failure messages: C escapes, cut at 300 characters.
inline std::string printable(const std::string &s) {
    std::string out;
    for (unsigned char c : s) {
        if (out.size() > 300) {
            out += "...";
            break;
        }
        if (c == '\\' || c == '"') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    return '"' + out + '"';
}

// Cuts the input into pieces, front to back; every call succeeds (zeros past the end).
class Bytes {
  public:
    Bytes(const std::uint8_t *data, std::size_t size) : data_(data), size_(size) {}

    bool empty() const { return pos_ >= size_; }
    std::size_t remaining() const { return size_ - pos_; }

    std::uint8_t byte() { return empty() ? 0 : data_[pos_++]; }
    bool flag() { return byte() & 1; }
    // A piece of up to `max` bytes: a length byte, then that many bytes.
    std::string string(std::size_t max = 255) {
        const std::size_t n = std::min<std::size_t>({byte(), max, remaining()});
        std::string out(reinterpret_cast<const char *>(data_ + pos_), n);
        pos_ += n;
        return out;
    }
    template <typename T> T number() {
        T out{};
        const std::size_t n = std::min(sizeof(T), remaining());
        std::memcpy(&out, data_ + pos_, n);
        pos_ += n;
        return out;
    }
    std::string rest() {
        std::string out(reinterpret_cast<const char *>(data_ + pos_), remaining());
        pos_ = size_;
        return out;
    }

  private:
    const std::uint8_t *data_;
    std::size_t size_, pos_ = 0;
};

} // namespace vigil::fuzz

// Aborts with the failed condition and a detail (a std::string expression) when `cond` is false.
#define FUZZ_CHECK(cond, detail)                                                                             \
    do {                                                                                                     \
        if (!(cond))                                                                                         \
            ::vigil::fuzz::fail(__FILE__, __LINE__, #cond, (detail));                                        \
    } while (0)
