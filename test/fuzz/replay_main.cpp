// replay_main.cpp — the main() of the fuzz targets outside libFuzzer: feeds every file of the
// directories (or the files) named on the command line to LLVMFuzzerTestOneInput once. A
// crash or a violated invariant aborts, naming the input; CTest runs this over each corpus.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "fuzz_support.hpp"

namespace fs = std::filesystem;

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    std::size_t replayed = 0;
    for (int i = 1; i < argc; ++i) {
        std::vector<fs::path> inputs;
        std::error_code ec;
        if (fs::is_directory(argv[i], ec)) {
            for (const auto &entry : fs::directory_iterator(argv[i], ec))
                if (entry.is_regular_file())
                    inputs.push_back(entry.path());
            if (inputs.empty()) {
                std::fprintf(stderr, "%s: no input in %s\n", argv[0], argv[i]);
                return 1;
            }
            std::sort(inputs.begin(), inputs.end());
        } else if (fs::is_regular_file(argv[i], ec)) {
            inputs.push_back(argv[i]);
        } else {
            std::fprintf(stderr, "%s: %s is neither a file nor a directory\n", argv[0], argv[i]);
            return 1;
        }
        for (const fs::path &path : inputs) {
            std::ifstream in(path, std::ios::binary);
            const std::vector<char> bytes{std::istreambuf_iterator<char>(in),
                                          std::istreambuf_iterator<char>()};
            if (!in.good() && !in.eof()) {
                std::fprintf(stderr, "%s: cannot read %s\n", argv[0], path.c_str());
                return 1;
            }
            // Printed first, so that an abort names the input.
            std::printf("%s (%zu bytes)\n", path.c_str(), bytes.size());
            std::fflush(stdout);
            // A copy of exactly the input's size, so that reading past it is caught by ASan.
            std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
            static const std::uint8_t none = 0; // a valid pointer for the empty input, as libFuzzer gives
            LLVMFuzzerTestOneInput(data.empty() ? &none : data.data(), data.size());
            ++replayed;
        }
    }
    std::printf("replayed %zu inputs\n", replayed);
    return 0;
}
