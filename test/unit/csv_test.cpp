// The CSV reader and the per-record checks of `vigild import`, without a database.
#include <fcntl.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "import/csv_import.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;

namespace {

std::vector<csv::Record> read_all(const std::string &text) {
    const std::string path = test::write_temp_file(text, ".csv");
    const int fd = ::open(path.c_str(), O_RDONLY);
    csv::Reader reader(fd);
    std::vector<csv::Record> out;
    csv::Record r;
    while (reader.next(r))
        out.push_back(r);
    ::close(fd);
    return out;
}

std::vector<std::string> values(const csv::Record &r) {
    std::vector<std::string> v;
    for (std::size_t i = 0; i < r.fields.size(); ++i)
        v.push_back(r.value(i));
    return v;
}

} // namespace

TEST(CsvReader, SplitsFieldsAndUnquotes) {
    auto rs = read_all("a,b,c\n1,\"x, y\",\"say \"\"hi\"\"\"\n");
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(values(rs[0]), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(values(rs[1]), (std::vector<std::string>{"1", "x, y", "say \"hi\""}));
    EXPECT_EQ(rs[1].line, 2);
}

TEST(CsvReader, EmbeddedNewlinesKeepPhysicalLineNumbers) {
    auto rs = read_all("1,\"two\nlines\"\n2,\"three\nmore\nlines\"\n3,x");
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_EQ(rs[0].line, 1);
    EXPECT_EQ(rs[1].line, 3);
    EXPECT_EQ(rs[2].line, 6);
    EXPECT_EQ(rs[1].value(1), "three\nmore\nlines");
    EXPECT_EQ(rs[2].value(1), "x"); // no final newline
}

TEST(CsvReader, CrLfAndEmptyFieldsAndEmptyInput) {
    auto rs = read_all("a,,\r\n,b,\r\n");
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(values(rs[0]), (std::vector<std::string>{"a", "", ""}));
    EXPECT_EQ(values(rs[1]), (std::vector<std::string>{"", "b", ""}));
    EXPECT_TRUE(read_all("").empty());
}

TEST(CsvReader, RecordsLongerThanTheBufferAreWhole) {
    const std::string big(3 << 20, 'x'); // three times the reader's buffer
    auto rs = read_all("1,\"" + big + "\"\n2,y\n");
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[0].value(1).size(), big.size());
    EXPECT_EQ(rs[1].line, 2);
}

TEST(CsvChecks, ColumnCountUnterminatedQuoteAndEndMarker) {
    const std::vector<std::string> cols = {"id", "name"};
    auto rs = read_all("1,a\n2\n3,a,b\n\\.\n4,\"open\n");
    ASSERT_EQ(rs.size(), 5u);
    EXPECT_EQ(csv::check_record(rs[0], cols), "");
    EXPECT_EQ(csv::check_record(rs[1], cols), "line 2: expected 2 columns, found 1");
    EXPECT_EQ(csv::check_record(rs[2], cols), "line 3: expected 2 columns, found 3");
    EXPECT_THAT(csv::check_record(rs[3], cols), HasSubstr("would end COPY early"));
    EXPECT_THAT(csv::check_record(rs[4], cols), HasSubstr("line 5: unterminated quoted field"));
}

TEST(CsvChecks, InvalidUtf8IsLocatedByLineAndColumn) {
    const std::vector<std::string> cols = {"id", "note"};
    auto rs = read_all("1,\"ok\nbad \xE2\x82 x\"\n");
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_THAT(csv::check_record(rs[0], cols),
                HasSubstr("line 2, column 2 (note): invalid UTF-8 (byte 0xe2"));
}

TEST(Utf8, AcceptsValidAndRejectsMalformedSequences) {
    auto bad = [](const std::string &s) { return csv::invalid_utf8_offset(s.data(), s.size()); };
    EXPECT_EQ(bad("plain ascii"), std::string::npos);
    EXPECT_EQ(bad("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), std::string::npos); // é € 😀
    EXPECT_EQ(bad("\xFF"), 0u);
    EXPECT_EQ(bad("ab\xC3"), 2u);           // truncated
    EXPECT_EQ(bad("\xC0\xAF"), 0u);         // overlong '/'
    EXPECT_EQ(bad("\xED\xA0\x80"), 0u);     // UTF-16 surrogate
    EXPECT_EQ(bad("\xF4\x90\x80\x80"), 0u); // past U+10FFFF
    EXPECT_EQ(bad("x\xE2\x28\xA1"), 1u);    // bad continuation
}
