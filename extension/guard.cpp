/*
 * guard.cpp — the C++/PostgreSQL error boundary (see guard.hpp).
 */
#include "guard.hpp"

#include <cstring>
#include <new>

namespace vigil {

const char *PgError::what() const noexcept {
    return data_ && data_->message ? data_->message : "PostgreSQL error";
}

namespace detail {

/* Runs fn(arg) with a PostgreSQL error handler installed. No C++ object lives in this frame. */
void pg_call_impl(void (*fn)(void *), void *arg) {
    MemoryContext caller_cxt = CurrentMemoryContext;
    ErrorData *volatile caught = nullptr;

    PG_TRY();
    { fn(arg); }
    PG_CATCH();
    {
        MemoryContextSwitchTo(caller_cxt);
        caught = CopyErrorData();
        FlushErrorState();
    }
    PG_END_TRY();

    if (caught)
        throw PgError(caught);
}

namespace {

/*
 * A complete copy of text in the current memory context, for raising after the exception that
 * owns text is gone; null for empty text. Never raises an error: if memory runs out, it
 * returns the fallback.
 */
const char *copy_text(const char *text, const char *fallback = nullptr) noexcept {
    if (text == nullptr || *text == '\0')
        return nullptr;
    const size_t size = std::strlen(text) + 1;
    void *copy = MemoryContextAllocExtended(CurrentMemoryContext, size, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
    return copy ? static_cast<const char *>(std::memcpy(copy, text, size)) : fallback;
}

constexpr const char *kInternalError = "internal error in pgvigil";

} // namespace

void capture_current_exception(PendingError *out) noexcept {
    *out = PendingError{ERRCODE_INTERNAL_ERROR, nullptr, kInternalError, nullptr, nullptr};
    try {
        throw;
    } catch (const PgError &e) {
        out->pg = e.data();
    } catch (const Error &e) {
        out->sqlstate = e.sqlstate();
        out->message = copy_text(e.what(), "out of memory while reporting an error");
        if (out->message == nullptr)
            out->message = "";
        out->detail = copy_text(e.detail().c_str());
        out->hint = copy_text(e.hint().c_str());
    } catch (const std::bad_alloc &) {
        out->sqlstate = ERRCODE_OUT_OF_MEMORY;
        out->message = "out of memory";
    } catch (const std::exception &e) {
        out->detail = copy_text(e.what());
    } catch (...) {
        out->detail = "An unknown C++ exception was thrown.";
    }
}

void raise_pending(const char *entry, const ErrorStacks &at_entry, const PendingError *err) {
    if (!at_entry.unchanged()) {
        /* Put the entry point's handler back first: the error must reach it, not a dead frame. */
        PG_exception_stack = at_entry.exception_stack;
        error_context_stack = at_entry.context_stack;
        const char *own = err->pg ? err->pg->message : err->message;
        if (own != nullptr && *own == '\0')
            own = nullptr;
        ereport(
            ERROR,
            (errcode(ERRCODE_INTERNAL_ERROR),
             errmsg_internal("pgvigil entry point %s left PostgreSQL's error handling stack changed", entry),
             errdetail_internal("PG_exception_stack or error_context_stack was not the one the function was "
                                "called with; both are restored.%s%s%s",
                                own ? " The function's own error was: " : "", own ? own : "", own ? "." : ""),
             errhint("This is a bug in pgvigil; please report it.")));
    }
    if (err->pg)
        ReThrowError(err->pg);
    ereport(ERROR, (errcode(err->sqlstate), errmsg_internal("%s", err->message),
                    err->detail ? errdetail_internal("%s", err->detail) : 0,
                    err->hint ? errhint("%s", err->hint) : 0));
    pg_unreachable();
}

Subxact begin_subxact() {
    Subxact s{CurrentMemoryContext, CurrentResourceOwner};
    pg_call([] { BeginInternalSubTransaction(nullptr); });
    MemoryContextSwitchTo(s.cxt);
    return s;
}

void commit_subxact(const Subxact &s) {
    pg_call([] { ReleaseCurrentSubTransaction(); });
    MemoryContextSwitchTo(s.cxt);
    CurrentResourceOwner = s.owner;
}

void rollback_subxact(const Subxact &s) noexcept {
    RollbackAndReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(s.cxt);
    CurrentResourceOwner = s.owner;
}

} // namespace detail
} // namespace vigil
