// progress.hpp — the one status line of long-running commands: redrawn in place on stderr at
// most once per interval, only when stderr is a terminal, and cleared at the end.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

namespace vigil {

// Not thread-safe: one thread draws (and clears) the line.
class ProgressLine {
  public:
    using Clock = std::chrono::steady_clock;

    // Draws on stderr when `enabled` and stderr is a terminal; otherwise does nothing at all.
    explicit ProgressLine(std::chrono::milliseconds interval = std::chrono::milliseconds(250),
                          bool enabled = true);
    // Draws on `out` as if it were a terminal (for tests).
    ProgressLine(std::chrono::milliseconds interval, std::FILE *out);
    ~ProgressLine(); // clears the line
    ProgressLine(const ProgressLine &) = delete;
    ProgressLine &operator=(const ProgressLine &) = delete;

    bool active() const noexcept { return out_ != nullptr; }
    // Seconds since construction: for the rates the line shows.
    double elapsed_seconds() const { return std::chrono::duration<double>(Clock::now() - started_).count(); }
    // Whether update() would draw now: active, and an interval has passed since the last
    // drawing (or since construction, so a quick command shows nothing).
    bool due() const;
    // Draws `text` when due, else drops it: the next update brings the line up to date.
    void update(const std::string &text);
    // Draws `text` now, due or not: a new phase that is starting.
    void show(const std::string &text);
    // Blanks the line, leaving the cursor at its start; a later update draws again.
    void clear();

    // printf-style text for update() and show().
    static std::string format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

  private:
    std::FILE *out_;
    std::chrono::milliseconds interval_;
    Clock::time_point started_, last_;
    std::size_t width_ = 0; // characters on the line now, blanked by the next drawing or clear()
};

} // namespace vigil
