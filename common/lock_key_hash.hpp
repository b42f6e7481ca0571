/*
 * lock_key_hash.hpp — the advisory-lock key of a name, shared by the extension and vigild.
 *
 * Dependency-free on purpose: extension/advisory_locks.cpp and test/support/lock_key.hpp both include
 * it, so vigil.lock_key() in SQL and vigil::lock_key() in C++ are one implementation.
 *
 * The key is 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3) over the
 * name's UTF-8 bytes, reinterpreted as a two's-complement signed 64-bit integer (PostgreSQL's
 * bigint). It depends on nothing but the bytes: not on the platform, its byte order, the
 * compiler or the PostgreSQL version. test/vectors/lock_key.tsv holds the reference values.
 */
#pragma once

#include <cstdint>
#include <string_view>

namespace vigil {

/* 64-bit FNV-1a of a byte string. */
constexpr std::uint64_t fnv1a_64(std::string_view bytes) noexcept {
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (const char c : bytes) {
        hash ^= static_cast<std::uint8_t>(c);
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

/* The advisory-lock key of UTF-8 bytes: FNV-1a 64 as a signed bigint. */
constexpr std::int64_t lock_key_of_utf8(std::string_view utf8) noexcept {
    const std::uint64_t h = fnv1a_64(utf8);
    /* Two's-complement reinterpretation, written without implementation-defined conversion. */
    return h <= static_cast<std::uint64_t>(INT64_MAX) ? static_cast<std::int64_t>(h)
                                                      : -static_cast<std::int64_t>(~h) - 1;
}

/* Published FNV-1a 64 test values (the FNV reference suite). */
static_assert(fnv1a_64("") == 0xcbf29ce484222325ULL);
static_assert(fnv1a_64("a") == 0xaf63dc4c8601ec8cULL);
static_assert(fnv1a_64("foobar") == 0x85944171f73967e8ULL);

} // namespace vigil
