/*
 * activity_sampler.cpp — the activity sampler background worker and its SQL functions.
 *
 * When pgvigil is in shared_preload_libraries, a background worker counts the client
 * backends by state every vigil.sample_interval and writes the counts into a ring of
 * vigil.sample_history samples in shared memory. It reads the backend status array
 * directly (no database connection, no SQL), so a sample costs microseconds.
 * vigil.activity_history() and vigil.activity_stats() read the ring; pool_advice uses
 * the observed concurrency.
 */
#include "arguments.hpp"
#include "guard.hpp"
#include "result_row.hpp"
#include "result_set.hpp"
#include "activity_sampler.hpp"
#include "core/percentile.hpp"

extern "C" {
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PGDLLEXPORT void vigil_sampler_main(Datum arg);
}

#include <algorithm>
#include <vector>

namespace {

/* One sample: client backends by state at one moment. */
struct Sample {
    TimestampTz at;
    int32 active;
    int32 idle;
    int32 idle_in_transaction;
    int32 waiting_on_lock; /* a subset of active */
    int32 total;
};

/* The ring in shared memory; `written` counts every sample ever stored. */
struct SamplerShared {
    LWLock *lock;
    int capacity;
    uint64 written;
    Sample samples[FLEXIBLE_ARRAY_MEMBER];
};

constexpr const char *kTranche = "pgvigil_sampler";
constexpr const char *kShmemName = "pgvigil activity sampler";

int g_sample_interval_ms = 1000;
int g_sample_history = 3600;
SamplerShared *g_shared = nullptr; /* null unless preloaded */

shmem_request_hook_type g_prev_shmem_request = nullptr;
shmem_startup_hook_type g_prev_shmem_startup = nullptr;

/* The size of the ring in shared memory. */
Size shared_size() {
    return add_size(offsetof(SamplerShared, samples), mul_size(g_sample_history, sizeof(Sample)));
}

/* Asks the postmaster for the ring and its lock (PostgreSQL 15 wants this in shmem_request_hook). */
void sampler_shmem_request() {
    if (g_prev_shmem_request)
        g_prev_shmem_request();
    RequestAddinShmemSpace(shared_size());
    RequestNamedLWLockTranche(kTranche, 1);
}

/* Creates (in the postmaster) or attaches to the ring. */
void sampler_shmem_startup() {
    if (g_prev_shmem_startup)
        g_prev_shmem_startup();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found;
    auto *shared = static_cast<SamplerShared *>(ShmemInitStruct(kShmemName, shared_size(), &found));
    if (!found) {
        shared->lock = &GetNamedLWLockTranche(kTranche)->lock;
        shared->capacity = g_sample_history;
        shared->written = 0;
    }
    LWLockRelease(AddinShmemInitLock);
    g_shared = shared;
}

/* Counts the client backends by state. Plain C: runs in the worker without a guard. */
Sample take_sample() {
    Sample s{};
    s.at = GetCurrentTimestamp();
    pgstat_clear_backend_activity_snapshot(); /* read the status array afresh */
    const int n = pgstat_fetch_stat_numbackends();
    for (int i = 1; i <= n; i++) {
        LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
        if (!local)
            continue;
        const PgBackendStatus *be = &local->backendStatus;
        if (be->st_procpid <= 0 || be->st_backendType != B_BACKEND)
            continue;
        s.total++;
        switch (be->st_state) {
        case STATE_RUNNING:
        case STATE_FASTPATH:
            s.active++;
            break;
        case STATE_IDLE:
            s.idle++;
            break;
        case STATE_IDLEINTRANSACTION:
        case STATE_IDLEINTRANSACTION_ABORTED:
            s.idle_in_transaction++;
            break;
        default:
            break;
        }
        PGPROC *proc = BackendPidGetProc(be->st_procpid);
        if (proc && (proc->wait_event_info & 0xFF000000) == PG_WAIT_LOCK)
            s.waiting_on_lock++;
    }
    pgstat_clear_backend_activity_snapshot();
    return s;
}

/* Writes one sample into the ring, over the oldest once it is full. */
void store_sample(const Sample &s) {
    LWLockAcquire(g_shared->lock, LW_EXCLUSIVE);
    g_shared->samples[g_shared->written % g_shared->capacity] = s;
    g_shared->written++;
    LWLockRelease(g_shared->lock);
}

/* The stored samples, oldest first. */
std::vector<Sample> read_samples() {
    if (!g_shared)
        throw vigil::Error(
            ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "the pgvigil activity sampler is not running",
            "pgvigil is not in shared_preload_libraries, so no background worker samples "
            "the server's activity.",
            "Add pgvigil to shared_preload_libraries in postgresql.conf and restart the server.");
    std::vector<Sample> out;
    out.reserve(static_cast<size_t>(g_shared->capacity));
    LWLockAcquire(g_shared->lock, LW_SHARED);
    const uint64 written = g_shared->written;
    const uint64 cap = static_cast<uint64>(g_shared->capacity);
    const uint64 first = written > cap ? written - cap : 0;
    for (uint64 k = first; k < written; k++)
        out.push_back(g_shared->samples[k % cap]);
    LWLockRelease(g_shared->lock);
    return out;
}

} // namespace

namespace vigil {

void activity_sampler_init() {
    pg_call([] {
        DefineCustomIntVariable("vigil.sample_interval", "Time between two activity samples.", nullptr,
                                &g_sample_interval_ms, 1000, 10, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS,
                                nullptr, nullptr, nullptr);
    });
    /* Without preloading there is no worker, and PostgreSQL refuses to define a
     * PGC_POSTMASTER setting after startup: the ring size exists only when preloaded. */
    if (!process_shared_preload_libraries_in_progress)
        return;
    pg_call([] {
        DefineCustomIntVariable("vigil.sample_history", "Number of activity samples kept in shared memory.",
                                nullptr, &g_sample_history, 3600, 10, 1000000, PGC_POSTMASTER, 0, nullptr,
                                nullptr, nullptr);
    });

    g_prev_shmem_request = shmem_request_hook;
    shmem_request_hook = sampler_shmem_request;
    g_prev_shmem_startup = shmem_startup_hook;
    shmem_startup_hook = sampler_shmem_startup;

    BackgroundWorker worker{};
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
    worker.bgw_start_time = BgWorkerStart_ConsistentState; /* runs on hot standbys too */
    worker.bgw_restart_time = 10;                          /* seconds after a crash */
    snprintf(worker.bgw_name, BGW_MAXLEN, "pgvigil activity sampler");
    snprintf(worker.bgw_type, BGW_MAXLEN, "pgvigil activity sampler");
    snprintf(worker.bgw_library_name, BGW_MAXLEN, "pgvigil");
    snprintf(worker.bgw_function_name, BGW_MAXLEN, "vigil_sampler_main");
    pg_call([&] { RegisterBackgroundWorker(&worker); });
}

} // namespace vigil

/*
 * The worker: the pg_cron loop pattern. SIGTERM ends it (die), SIGHUP reloads the
 * configuration, and a latch wait paces the samples. It owns no C++ objects, so an
 * ERROR here is a plain FATAL exit and the postmaster restarts it after 10 s.
 */
void vigil_sampler_main(Datum) {
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    if (!g_shared)
        elog(FATAL, "pgvigil activity sampler: shared memory is not initialised");

    TimestampTz next = GetCurrentTimestamp();
    for (;;) {
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        const TimestampTz now = GetCurrentTimestamp();
        if (now >= next) {
            store_sample(take_sample());
            /* a fixed cadence; after a stall, resume from now rather than catching up */
            next = TimestampTzPlusMilliseconds(next, g_sample_interval_ms);
            if (next <= now)
                next = TimestampTzPlusMilliseconds(now, g_sample_interval_ms);
        }
        const long wait_ms = std::max<long>(1, (next - GetCurrentTimestamp() + 999) / 1000);
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    }
}

/*
 * vigil.activity_history() → SETOF (sampled_at, active, idle, idle_in_transaction,
 * waiting_on_lock, total): the samples in the ring, oldest first.
 */
VIGIL_FUNCTION(vigil_activity_history) {
    const std::vector<Sample> samples = read_samples();
    const vigil::ResultSet rows(fcinfo);
    for (const Sample &s : samples) {
        Datum values[6] = {TimestampTzGetDatum(s.at),
                           Int32GetDatum(s.active),
                           Int32GetDatum(s.idle),
                           Int32GetDatum(s.idle_in_transaction),
                           Int32GetDatum(s.waiting_on_lock),
                           Int32GetDatum(s.total)};
        bool nulls[6] = {false, false, false, false, false, false};
        rows.put(values, nulls);
    }
    return rows.done();
}

/*
 * vigil.activity_stats(window interval) → (samples, active_p50, active_p95, active_max,
 * total_p50, total_p95, total_max): observed concurrency over the last `window`.
 */
VIGIL_FUNCTION(vigil_activity_stats) {
    vigil::require_not_null(fcinfo, 0, "window", vigil::Default::exists);
    const Interval *window = PG_GETARG_INTERVAL_P(0);
    const double window_us = static_cast<double>(window->time) +
                             (static_cast<double>(window->month) * DAYS_PER_MONTH + window->day) *
                                 static_cast<double>(USECS_PER_DAY);
    if (!(window_us > 0))
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE, "window must be a positive interval", "",
                           "Pass an interval such as '5 minutes'.");
    const std::vector<Sample> samples = read_samples();
    const TimestampTz since = GetCurrentTimestamp() - static_cast<TimestampTz>(std::min(window_us, 1e17));
    std::vector<double> active, total;
    for (const Sample &s : samples)
        if (s.at >= since) {
            active.push_back(s.active);
            total.push_back(s.total);
        }
    std::sort(active.begin(), active.end());
    std::sort(total.begin(), total.end());

    Datum values[7];
    bool nulls[7] = {false, false, false, false, false, false, false};
    values[0] = Int32GetDatum(static_cast<int32>(active.size()));
    if (active.empty()) {
        for (int i = 1; i < 7; i++)
            nulls[i] = true;
    } else {
        values[1] = Float8GetDatum(vigil::core::percentile_cont(active, 0.50));
        values[2] = Float8GetDatum(vigil::core::percentile_cont(active, 0.95));
        values[3] = Int32GetDatum(static_cast<int32>(active.back()));
        values[4] = Float8GetDatum(vigil::core::percentile_cont(total, 0.50));
        values[5] = Float8GetDatum(vigil::core::percentile_cont(total, 0.95));
        values[6] = Int32GetDatum(static_cast<int32>(total.back()));
    }
    return vigil::result_row(fcinfo, values, nulls);
}
