// lock_key_vectors.hpp — reads test/vectors/lock_key.tsv, the reference values of the lock key
// shared by the unit test, the integration test and sql/500_advisory_locks.sql.
#pragma once

#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace vigil::test {

struct LockKeyVector {
    std::string name;
    std::int64_t key;
    std::string hex; // the same hash as 16 lowercase hex digits (unsigned)
};

// Every row of the vectors file (one header line, then name<TAB>key<TAB>hex).
inline std::vector<LockKeyVector> lock_key_vectors() {
    std::ifstream in(std::string(VIGIL_SOURCE_DIR) + "/test/vectors/lock_key.tsv");
    if (!in)
        throw std::runtime_error("cannot open test/vectors/lock_key.tsv");
    std::vector<LockKeyVector> out;
    std::string line;
    std::getline(in, line); // header
    while (std::getline(in, line)) {
        const auto t1 = line.find('\t');
        const auto t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
        if (t2 == std::string::npos)
            throw std::runtime_error("malformed vector line: " + line);
        out.push_back(
            {line.substr(0, t1), std::stoll(line.substr(t1 + 1, t2 - t1 - 1)), line.substr(t2 + 1)});
    }
    return out;
}

} // namespace vigil::test
