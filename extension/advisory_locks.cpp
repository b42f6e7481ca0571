/*
 * advisory_locks.cpp — advisory locks by name, with timeouts that really wait.
 *
 * A name maps to a 64-bit key (common/lock_key_hash.hpp, shared with vigild). The lock is the
 * same one pg_advisory_lock(bigint) takes on that key, so both interoperate.
 *
 * A timeout is a real wait in the lock manager: the lock is requested with lock_timeout set to
 * the remaining time for the duration of the request only (a GUC nest level, as a function's
 * SET clause does), inside a subtransaction so that a timed-out request is cleaned out of the
 * wait queue. The backend sleeps on its latch and is woken by the lock's release, by the timer,
 * or by pg_cancel_backend; the caller's own lock_timeout is restored exactly.
 */
#include "arguments.hpp"
#include "guard.hpp"
#include "core/lock_timeout.hpp"

#include "../common/lock_key_hash.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
}

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace {

enum class Scope { session, transaction };

/* The lock tag pg_advisory_lock(bigint) uses for the same key. */
LOCKTAG advisory_tag(int64 key) {
    LOCKTAG tag;
    SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, static_cast<uint32>(static_cast<uint64>(key) >> 32),
                         static_cast<uint32>(key), 1);
    return tag;
}

/* The lock mode pg_advisory_lock uses: ShareLock for shared, ExclusiveLock otherwise. */
LOCKMODE lock_mode(bool shared) {
    return shared ? ShareLock : ExclusiveLock;
}

/* The key of a name: the FNV-1a 64 hash of its UTF-8 bytes. Empty names are refused. */
int64 key_of_name(text *name) {
    const int len = VARSIZE_ANY_EXHDR(name);
    if (len == 0)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE, "lock name must not be empty", "",
                           "Pass a name that identifies the resource, such as 'orders:42'.");
    const char *src = VARDATA_ANY(name);
    /* Hash UTF-8 whatever the database encoding, so a name has one key everywhere. */
    const char *utf8 = vigil::pg_call([&] { return pg_server_to_any(src, len, PG_UTF8); });
    const size_t utf8_len = utf8 == src ? static_cast<size_t>(len) : strlen(utf8);
    return vigil::lock_key_of_utf8(std::string_view(utf8, utf8_len));
}

/* No timeout of our own (a NULL timeout argument). */
constexpr int no_limit = -1;

/*
 * The timeout argument in milliseconds: no_limit for NULL, 0 for "try once", otherwise at least 1 (a positive
 * timeout under a millisecond is rounded up, because lock_timeout = 0 would mean "no limit").
 */
int timeout_ms(FunctionCallInfo fcinfo, int argno) {
    if (PG_ARGISNULL(argno))
        return no_limit;
    const Interval *iv = PG_GETARG_INTERVAL_P(argno);
    const vigil::core::TimeoutMs t = vigil::core::lock_timeout_ms(iv->time, iv->day, iv->month);
    if (t.problem == vigil::core::TimeoutMs::Problem::Negative)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE, "timeout must not be negative", "",
                           "Pass NULL to wait without a limit, or '0' to try once without waiting.");
    if (t.problem == vigil::core::TimeoutMs::Problem::TooLong)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                           "timeout must be at most 2147483647 milliseconds (about 24 days)", "",
                           "Pass NULL to wait without a limit.");
    return t.ms;
}

/* Requests the lock without waiting; true when it is now held. */
bool try_acquire(const LOCKTAG &tag, LOCKMODE mode, Scope scope) {
    return vigil::pg_call([&] { return LockAcquire(&tag, mode, scope == Scope::session, true); }) !=
           LOCKACQUIRE_NOT_AVAIL;
}

/*
 * Takes the lock, waiting at most timeout_ms (no_limit: as long as the session's own lock_timeout
 * and statement_timeout allow, like pg_advisory_lock). Returns false when the timeout expired;
 * any other error (cancel, deadlock, statement_timeout) propagates.
 */
bool acquire(const LOCKTAG &tag, LOCKMODE mode, Scope scope, int timeout) {
    const bool session = scope == Scope::session;
    if (timeout == no_limit) {
        vigil::pg_call([&] { (void)LockAcquire(&tag, mode, session, false); });
        return true;
    }
    /* The uncontended case needs no subtransaction. */
    if (try_acquire(tag, mode, scope))
        return true;
    if (timeout == 0)
        return false;
    const int ms = timeout;
    try {
        vigil::in_subtransaction([&] {
            vigil::pg_call([&] {
                char value[16];
                std::snprintf(value, sizeof value, "%d", ms);
                /* GUC_ACTION_SAVE at a nest level of our own: AtEOXact_GUC puts the caller's
                 * value back exactly (the subtransaction's abort does it on error). */
                const int nest_level = NewGUCNestLevel();
                (void)set_config_option("lock_timeout", value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                                        true, 0, false);
                (void)LockAcquire(&tag, mode, session, false);
                AtEOXact_GUC(true, nest_level);
            });
        });
    } catch (const vigil::PgError &e) {
        if (e.sqlstate() != ERRCODE_LOCK_NOT_AVAILABLE)
            throw;
        return false;
    }
    return true;
}

/* Releases one hold of the lock; false (with PostgreSQL's warning) when it was not held. */
bool release(const LOCKTAG &tag, LOCKMODE mode, Scope scope) {
    return vigil::pg_call([&] { return LockRelease(&tag, mode, scope == Scope::session); });
}

/* advisory_lock / advisory_xact_lock (key, timeout, shared) once the key is known. */
Datum lock_with_key(FunctionCallInfo fcinfo, int64 key, Scope scope) {
    vigil::require_not_null(fcinfo, 2, "shared", vigil::Default::exists);
    const int timeout = timeout_ms(fcinfo, 1);
    PG_RETURN_BOOL(acquire(advisory_tag(key), lock_mode(PG_GETARG_BOOL(2)), scope, timeout));
}

/* The key of the name in argument 0. */
int64 name_key_arg(FunctionCallInfo fcinfo) {
    vigil::require_not_null(fcinfo, 0, "lock name");
    return key_of_name(vigil::pg_call([&] { return PG_GETARG_TEXT_PP(0); }));
}

/* The bigint key in argument 0. */
int64 key_arg(FunctionCallInfo fcinfo) {
    vigil::require_not_null(fcinfo, 0, "lock key");
    return PG_GETARG_INT64(0);
}

/* advisory_unlock(name or key, shared): releases one session-level hold. */
Datum unlock_with_key(FunctionCallInfo fcinfo, int64 key) {
    vigil::require_not_null(fcinfo, 1, "shared", vigil::Default::exists);
    PG_RETURN_BOOL(release(advisory_tag(key), lock_mode(PG_GETARG_BOOL(1)), Scope::session));
}

/* The distinct keys of a text[] of names, in ascending order. */
std::vector<int64> sorted_keys(ArrayType *names) {
    if (ARR_NDIM(names) > 1)
        throw vigil::Error(ERRCODE_ARRAY_SUBSCRIPT_ERROR, "names must be a one-dimensional array");
    Datum *elems = nullptr;
    bool *nulls = nullptr;
    int count = 0;
    vigil::pg_call(
        [&] { deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count); });
    if (count == 0)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE, "names must not be empty", "",
                           "Pass at least one lock name.");
    std::vector<int64> keys;
    keys.reserve(count);
    for (int i = 0; i < count; i++) {
        if (nulls[i])
            throw vigil::Error(ERRCODE_NULL_VALUE_NOT_ALLOWED,
                               "names must not contain null (element " + std::to_string(i + 1) + ")");
        keys.push_back(key_of_name(vigil::pg_call([&] { return DatumGetTextPP(elems[i]); })));
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    return keys;
}

} // namespace

/* vigil.lock_key(name text) → bigint */
VIGIL_FUNCTION(vigil_lock_key) {
    vigil::require_not_null(fcinfo, 0, "lock name");
    PG_RETURN_INT64(key_of_name(vigil::pg_call([&] { return PG_GETARG_TEXT_PP(0); })));
}

/* vigil.advisory_lock(name text, timeout interval, shared bool) → bool */
VIGIL_FUNCTION(vigil_advisory_lock_name) {
    return lock_with_key(fcinfo, name_key_arg(fcinfo), Scope::session);
}

/* vigil.advisory_lock(key bigint, timeout interval, shared bool) → bool */
VIGIL_FUNCTION(vigil_advisory_lock_key) {
    return lock_with_key(fcinfo, key_arg(fcinfo), Scope::session);
}

/* vigil.advisory_xact_lock(name text, timeout interval, shared bool) → bool */
VIGIL_FUNCTION(vigil_advisory_xact_lock_name) {
    return lock_with_key(fcinfo, name_key_arg(fcinfo), Scope::transaction);
}

/* vigil.advisory_xact_lock(key bigint, timeout interval, shared bool) → bool */
VIGIL_FUNCTION(vigil_advisory_xact_lock_key) {
    return lock_with_key(fcinfo, key_arg(fcinfo), Scope::transaction);
}

/* vigil.advisory_unlock(name text, shared bool) → bool */
VIGIL_FUNCTION(vigil_advisory_unlock_name) {
    return unlock_with_key(fcinfo, name_key_arg(fcinfo));
}

/* vigil.advisory_unlock(key bigint, shared bool) → bool */
VIGIL_FUNCTION(vigil_advisory_unlock_key) {
    return unlock_with_key(fcinfo, key_arg(fcinfo));
}

/*
 * vigil.advisory_lock_all(names text[], timeout interval, xact bool) → bool
 * Takes every lock exclusively in ascending key order, so that callers naming the same locks in
 * any order cannot deadlock. The timeout bounds the whole call. All or nothing: on timeout or
 * error, the locks this call took are released again.
 */
VIGIL_FUNCTION(vigil_advisory_lock_all) {
    vigil::require_not_null(fcinfo, 0, "names");
    vigil::require_not_null(fcinfo, 2, "xact", vigil::Default::exists);
    const std::vector<int64> keys = sorted_keys(vigil::pg_call([&] { return PG_GETARG_ARRAYTYPE_P(0); }));
    const int timeout = timeout_ms(fcinfo, 1);
    const Scope scope = PG_GETARG_BOOL(2) ? Scope::transaction : Scope::session;
    const TimestampTz deadline =
        timeout == no_limit ? 0 : GetCurrentTimestamp() + static_cast<TimestampTz>(timeout) * 1000;

    std::vector<int64> taken;
    auto release_taken = [&] {
        for (auto it = taken.rbegin(); it != taken.rend(); ++it)
            (void)release(advisory_tag(*it), ExclusiveLock, scope);
    };
    try {
        for (const int64 key : keys) {
            /* Later keys get what is left of the timeout; 0 left means one last try. */
            const int left =
                timeout == no_limit ? no_limit : vigil::core::remaining_ms(GetCurrentTimestamp(), deadline);
            if (!acquire(advisory_tag(key), ExclusiveLock, scope, left)) {
                release_taken();
                PG_RETURN_BOOL(false);
            }
            taken.push_back(key);
        }
    } catch (...) {
        /* A cancel mid-way must not leave session locks behind. */
        release_taken();
        throw;
    }
    PG_RETURN_BOOL(true);
}
