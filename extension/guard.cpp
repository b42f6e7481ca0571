/*
 * guard.cpp — the C++/PostgreSQL error boundary (see guard.hpp).
 */
#include "guard.hpp"

#include <cstdio>
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
    {
        fn(arg);
    }
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

static void copy_text(char *dst, size_t size, const char *src) noexcept {
    std::snprintf(dst, size, "%s", src ? src : "");
}

/* Fills *out from the exception being handled; called only inside a catch block. */
void capture_current_exception(PendingError *out) noexcept {
    out->sqlstate = ERRCODE_INTERNAL_ERROR;
    out->pg = nullptr;
    out->message[0] = out->detail[0] = out->hint[0] = '\0';
    try {
        throw;
    } catch (const PgError &e) {
        out->pg = e.data();
    } catch (const Error &e) {
        out->sqlstate = e.sqlstate();
        copy_text(out->message, sizeof out->message, e.what());
        copy_text(out->detail, sizeof out->detail, e.detail().c_str());
        copy_text(out->hint, sizeof out->hint, e.hint().c_str());
    } catch (const std::bad_alloc &) {
        out->sqlstate = ERRCODE_OUT_OF_MEMORY;
        copy_text(out->message, sizeof out->message, "out of memory");
    } catch (const std::exception &e) {
        copy_text(out->message, sizeof out->message, "internal error in pgvigil");
        copy_text(out->detail, sizeof out->detail, e.what());
    } catch (...) {
        copy_text(out->message, sizeof out->message, "internal error in pgvigil");
        copy_text(out->detail, sizeof out->detail, "An unknown C++ exception was thrown.");
    }
}

/* Raises the captured error. Called after every C++ object of the failed call is gone. */
void raise_pending(const PendingError *err) {
    if (err->pg)
        ReThrowError(err->pg);
    ereport(ERROR, (errcode(err->sqlstate), errmsg_internal("%s", err->message),
                    err->detail[0] ? errdetail_internal("%s", err->detail) : 0,
                    err->hint[0] ? errhint("%s", err->hint) : 0));
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
