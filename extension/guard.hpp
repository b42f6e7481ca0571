/*
 * guard.hpp — the one boundary between C++ and PostgreSQL error handling.
 *
 * PostgreSQL reports errors with ereport(), which longjmp()s; C++ reports them
 * with exceptions. Neither may cross the other's frames:
 *
 *  - A C++ exception must never unwind into PostgreSQL code. Every SQL-callable
 *    function is declared with VIGIL_FUNCTION(name): the generated extern "C"
 *    entry point calls the C++ body inside try/catch and raises the PostgreSQL
 *    error only after the catch block has ended, when no C++ object with a
 *    destructor is left on the stack.
 *
 *  - A PostgreSQL error must never longjmp over a C++ frame that owns a
 *    destructor. Any call into PostgreSQL that can ereport(ERROR) from C++ code
 *    that owns such objects goes through vigil::pg_call(), which catches the
 *    error with PG_TRY and rethrows it as vigil::PgError. The entry point then
 *    re-raises the original error unchanged (SQLSTATE, detail, hint, position).
 *
 * C++ code reports a SQL error by throwing vigil::Error with an errcode, a
 * lowercase message and optional detail and hint sentences.
 */
#pragma once

#include "pg.hpp"

#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace vigil {

/* A SQL error raised from C++: SQLSTATE, message, detail and hint. */
class Error : public std::exception {
  public:
    Error(int sqlstate, std::string message, std::string detail = {}, std::string hint = {})
        : sqlstate_(sqlstate), message_(std::move(message)), detail_(std::move(detail)),
          hint_(std::move(hint)) {}

    const char *what() const noexcept override { return message_.c_str(); }
    int sqlstate() const noexcept { return sqlstate_; }
    const std::string &detail() const noexcept { return detail_; }
    const std::string &hint() const noexcept { return hint_; }

  private:
    int sqlstate_;
    std::string message_;
    std::string detail_;
    std::string hint_;
};

/* A PostgreSQL error caught by pg_call(); carries the original ErrorData. */
class PgError : public std::exception {
  public:
    explicit PgError(ErrorData *data) noexcept : data_(data) {}
    const char *what() const noexcept override;
    ErrorData *data() const noexcept { return data_; }
    int sqlstate() const noexcept { return data_->sqlerrcode; }

  private:
    ErrorData *data_; /* palloc'd in the caller's memory context */
};

namespace detail {

/* Runs fn(arg) under PG_TRY; converts a PostgreSQL error into PgError. */
void pg_call_impl(void (*fn)(void *), void *arg);

/* Raises the error described by the current exception as a PostgreSQL ERROR. */
struct PendingError {
    int sqlstate;
    ErrorData *pg; /* set when the error came from PostgreSQL */
    char message[1024];
    char detail[1024];
    char hint[1024];
};
void capture_current_exception(PendingError *out) noexcept;
[[noreturn]] void raise_pending(const PendingError *err);

} // namespace detail

/*
 * Calls fn() — a lambda around PostgreSQL calls that may ereport(ERROR) — and
 * turns such an error into vigil::PgError. Keep fn small: objects created inside
 * it are skipped by the longjmp, so it must not own anything with a destructor.
 */
template <typename Fn> auto pg_call(Fn &&fn) -> std::invoke_result_t<Fn &> {
    using R = std::invoke_result_t<Fn &>;
    if constexpr (std::is_void_v<R>) {
        detail::pg_call_impl([](void *f) { (*static_cast<std::remove_reference_t<Fn> *>(f))(); },
                             &fn);
    } else {
        struct Call {
            std::remove_reference_t<Fn> *fn;
            std::optional<R> result;
        } call{&fn, std::nullopt};
        detail::pg_call_impl([](void *c) {
            auto *self = static_cast<Call *>(c);
            self->result.emplace((*self->fn)());
        }, &call);
        return std::move(*call.result);
    }
}

/* CHECK_FOR_INTERRUPTS() for C++ code: a cancel arrives as PgError. */
inline void check_for_interrupts() {
    if (INTERRUPTS_PENDING_CONDITION())
        pg_call([] { ProcessInterrupts(); });
}

/*
 * Runs body() in an internal subtransaction. On any error the subtransaction is
 * rolled back, the error is rethrown as a C++ exception and the outer
 * transaction stays usable; the caller may catch it and carry on.
 */
template <typename Fn> void in_subtransaction(Fn &&body);

namespace detail {
struct Subxact {
    MemoryContext cxt;
    ResourceOwner owner;
};
Subxact begin_subxact();
void commit_subxact(const Subxact &s);
void rollback_subxact(const Subxact &s) noexcept;
} // namespace detail

template <typename Fn> void in_subtransaction(Fn &&body) {
    const detail::Subxact s = detail::begin_subxact();
    try {
        body();
    } catch (...) {
        detail::rollback_subxact(s);
        throw;
    }
    detail::commit_subxact(s);
}

/* Calls body(fcinfo); any C++ or PostgreSQL error becomes a clean ERROR. */
template <typename Body> Datum invoke_sql_function(Body body, FunctionCallInfo fcinfo) {
    detail::PendingError err; /* trivially destructible: safe under longjmp */
    try {
        return body(fcinfo);
    } catch (...) {
        detail::capture_current_exception(&err);
    }
    detail::raise_pending(&err);
}

} // namespace vigil

/*
 * Declares an SQL-callable function: VIGIL_FUNCTION(vigil_version) { ... }
 * The body is C++ taking PG_FUNCTION_ARGS (fcinfo) and returning a Datum.
 */
#define VIGIL_FUNCTION(name)                                                                   \
    static Datum name##_body(FunctionCallInfo fcinfo);                                         \
    extern "C" {                                                                               \
    PG_FUNCTION_INFO_V1(name);                                                                 \
    Datum name(PG_FUNCTION_ARGS) { return vigil::invoke_sql_function(name##_body, fcinfo); }   \
    }                                                                                          \
    static Datum name##_body(FunctionCallInfo fcinfo)
