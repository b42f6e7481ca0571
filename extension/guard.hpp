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
 *    destructor is left on the stack. Other entry points (_PG_init) go through
 *    vigil::guarded() the same way.
 *
 *  - A PostgreSQL error must never longjmp over a C++ frame that owns a
 *    destructor. Any call into PostgreSQL that can ereport(ERROR) from C++ code
 *    that owns such objects goes through vigil::pg_call(), which catches the
 *    error with PG_TRY and rethrows it as vigil::PgError. The entry point then
 *    re-raises the original error unchanged (SQLSTATE, detail, hint, position).
 *    A C++ exception thrown inside a pg_call() lambda is caught before PG_TRY's
 *    frame ends and rethrown after it, so it never unwinds through sigsetjmp.
 *
 *  - The entry point checks that PG_exception_stack and error_context_stack are
 *    the ones it was called with when the body returns or throws; if not, it puts
 *    them back and raises an internal error rather than carry on with a stack
 *    that points into dead frames.
 *
 * C++ code reports a SQL error by throwing vigil::Error with an errcode, a
 * lowercase message and optional detail and hint sentences. Messages of any
 * length reach the client in full.
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

/* PostgreSQL's error-handling stacks, as an entry point found them. */
struct ErrorStacks {
    sigjmp_buf *exception_stack;
    ErrorContextCallback *context_stack;

    static ErrorStacks current() noexcept { return {PG_exception_stack, error_context_stack}; }
    bool unchanged() const noexcept {
        return PG_exception_stack == exception_stack && error_context_stack == context_stack;
    }
};

/*
 * The error an entry point's body left to raise. Trivially destructible, because raising it
 * longjmps over the frame that holds it; the texts are palloc'd copies, complete whatever
 * their length.
 */
struct PendingError {
    int sqlstate;
    ErrorData *pg;       /* set when the error came from PostgreSQL */
    const char *message; /* null when there is no error (the body returned) */
    const char *detail;  /* null: none */
    const char *hint;    /* null: none */
};

/* Fills *out from the exception being handled; called only inside a catch block. */
void capture_current_exception(PendingError *out) noexcept;

/* Raises *err, or an internal error naming entry when the error stacks are not `at_entry`. */
[[noreturn]] void raise_pending(const char *entry, const ErrorStacks &at_entry, const PendingError *err);

} // namespace detail

/*
 * Calls fn() — a lambda around PostgreSQL calls that may ereport(ERROR) — and
 * turns such an error into vigil::PgError. Keep fn small: objects created inside
 * it are skipped by the longjmp, so it must not own anything with a destructor.
 */
template <typename Fn> auto pg_call(Fn &&fn) -> std::invoke_result_t<Fn &> {
    using R = std::invoke_result_t<Fn &>;
    using Slot = std::conditional_t<std::is_void_v<R>, bool, std::optional<R>>;
    struct Call {
        std::remove_reference_t<Fn> *fn;
        Slot result;
        std::exception_ptr thrown;
    } call{&fn, Slot{}, nullptr};
    const MemoryContext caller_cxt = CurrentMemoryContext;
    detail::pg_call_impl(
        [](void *c) {
            auto *self = static_cast<Call *>(c);
            /* Caught here, inside PG_TRY: unwinding must not cross pg_call_impl's sigsetjmp frame. */
            try {
                if constexpr (std::is_void_v<R>)
                    (*self->fn)();
                else
                    self->result.emplace((*self->fn)());
            } catch (...) {
                self->thrown = std::current_exception();
            }
        },
        &call);
    if (call.thrown) {
        MemoryContextSwitchTo(caller_cxt);
        std::rethrow_exception(call.thrown);
    }
    if constexpr (!std::is_void_v<R>)
        return std::move(*call.result);
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

/*
 * Runs body(), the C++ side of an entry point from PostgreSQL named entry, and returns what it
 * returns. Any C++ or PostgreSQL error becomes a clean ERROR once every C++ object of body is
 * gone; error stacks that body left changed become an internal error.
 */
template <typename Body> auto guarded(const char *entry, Body &&body) -> std::invoke_result_t<Body &> {
    const detail::ErrorStacks at_entry = detail::ErrorStacks::current();
    detail::PendingError err{}; /* trivially destructible: safe under longjmp */
    try {
        if constexpr (std::is_void_v<std::invoke_result_t<Body &>>) {
            body();
            if (at_entry.unchanged())
                return;
        } else {
            auto result = body();
            if (at_entry.unchanged())
                return result;
        }
    } catch (...) {
        detail::capture_current_exception(&err);
    }
    detail::raise_pending(entry, at_entry, &err);
}

} // namespace vigil

/*
 * Declares an SQL-callable function: VIGIL_FUNCTION(vigil_version) { ... }
 * The body is C++ taking PG_FUNCTION_ARGS (fcinfo) and returning a Datum.
 */
#define VIGIL_FUNCTION(name)                                                                                 \
    static Datum name##_body(FunctionCallInfo fcinfo);                                                       \
    extern "C" {                                                                                             \
    PG_FUNCTION_INFO_V1(name);                                                                               \
    Datum name(PG_FUNCTION_ARGS) {                                                                           \
        return vigil::guarded(#name, [fcinfo] { return name##_body(fcinfo); });                              \
    }                                                                                                        \
    }                                                                                                        \
    static Datum name##_body(FunctionCallInfo fcinfo)
