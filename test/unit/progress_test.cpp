// The status line of long-running commands: drawn in place, rate-limited, cleared, and silent
// when stderr is not a terminal.
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

#include "progress.hpp"

using namespace vigil;
using namespace std::chrono_literals;

namespace {

// A FILE that collects what is written to it.
class Captured {
  public:
    Captured() : file_(open_memstream(&data_, &size_)) {}
    ~Captured() {
        std::fclose(file_);
        std::free(data_);
    }
    std::FILE *file() { return file_; }
    std::string text() {
        std::fflush(file_);
        return std::string(data_, size_);
    }

  private:
    char *data_ = nullptr;
    std::size_t size_ = 0;
    std::FILE *file_;
};

} // namespace

TEST(ProgressLine, DrawsInPlaceAndBlanksWhatALongerLineLeft) {
    Captured out;
    {
        ProgressLine line(1h, out.file());
        EXPECT_TRUE(line.active());
        line.show("copying 10 rows");
        line.show("done 2");
        EXPECT_EQ(out.text(), "\rcopying 10 rows\rdone 2         ");
        line.clear();
        EXPECT_EQ(out.text(), "\rcopying 10 rows\rdone 2         \r" + std::string(15, ' ') + "\r");
    }
    // Cleared already: the destructor writes nothing more.
    EXPECT_EQ(out.text().size(), 1 + 15 + 1 + 15 + 1 + 15 + 1);
}

TEST(ProgressLine, UpdatesAtMostOncePerInterval) {
    Captured out;
    ProgressLine line(50ms, out.file());
    EXPECT_FALSE(line.due()); // a quick command shows nothing
    line.update("early");
    EXPECT_EQ(out.text(), "");
    std::this_thread::sleep_for(60ms);
    EXPECT_TRUE(line.due());
    line.update("first");
    line.update("second"); // within the interval: dropped
    EXPECT_EQ(out.text(), "\rfirst");
}

TEST(ProgressLine, IsClearedWhenDestroyed) {
    Captured out;
    {
        ProgressLine line(1h, out.file());
        line.show("abc");
    }
    EXPECT_EQ(out.text(), "\rabc\r   \r");
}

TEST(ProgressLine, WritesNothingWhenStderrIsNotATerminalOrWhenDisabled) {
    testing::internal::CaptureStderr(); // stderr becomes a file
    {
        ProgressLine line(0ms);
        EXPECT_FALSE(line.active());
        EXPECT_FALSE(line.due());
        line.show("not a terminal");
        ProgressLine off(0ms, false);
        EXPECT_FALSE(off.active());
        off.show("disabled");
    }
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(ProgressLine, FormatsLikePrintf) {
    EXPECT_EQ(ProgressLine::format("%3d%%  %lld rows  %.0f rows/s", 7, 1234LL, 99.6),
              "  7%  1234 rows  100 rows/s");
}
