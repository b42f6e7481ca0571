// db_wait.cpp — statements with a client-side deadline (db_wait.hpp).
#include "db_wait.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <stdexcept>

#include <poll.h>
#include <sys/socket.h>

namespace vigil::db {

namespace {

// Waits for the socket to be ready for `events` until `deadline`; false when the time is up or
// the wait was abandoned first.
bool wait_socket(PGconn *c, short events, WaitClock::time_point deadline, const std::atomic<bool> *abandon) {
    for (;;) {
        if (abandon && abandon->load())
            return false;
        const auto now = WaitClock::now();
        if (now >= deadline)
            return false;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                    std::chrono::milliseconds(1);
        left = std::min(left, std::chrono::milliseconds(abandon ? 100 : 60'000)); // poll takes an int
        pollfd fd{PQsocket(c), events, 0};
        const int ready = poll(&fd, 1, static_cast<int>(left.count()));
        if (ready > 0)
            return true;
        if (ready < 0 && errno != EINTR)
            return true; // let libpq find out what is wrong with the socket
    }
}

std::string seconds_text(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", s);
    return buf;
}

// Restores the blocking mode a connection had when run_until began.
struct BlockingMode {
    PGconn *c;
    bool was_nonblocking;
    ~BlockingMode() {
        if (!was_nonblocking && PQstatus(c) == CONNECTION_OK)
            PQsetnonblocking(c, 0);
    }
};

// The wait ended without an answer: the connection is closed and NoAnswer thrown.
[[noreturn]] void give_up(Connection &conn, WaitClock::duration waited, const std::atomic<bool> *abandon) {
    abandon_connection(conn);
    if (abandon && abandon->load())
        throw NoAnswer(
            "the wait for the server was abandoned (vigild is stopping): the connection is closed");
    throw NoAnswer("no answer from the server within " +
                   seconds_text(std::chrono::duration<double>(waited).count()) +
                   " s: the connection is closed (the server may be frozen, or the network down)");
}

// Sends what libpq has queued, waiting for the socket until `deadline`; false when libpq failed
// (the connection is then bad). Gives up (give_up) when the deadline passes first.
bool flush_until(Connection &conn, WaitClock::time_point deadline, WaitClock::duration waited,
                 const std::atomic<bool> *abandon) {
    PGconn *c = conn.get();
    for (;;) {
        const int flushed = PQflush(c);
        if (flushed == 0)
            return true;
        if (flushed < 0)
            return false;
        if (!wait_socket(c, POLLIN | POLLOUT, deadline, abandon))
            give_up(conn, waited, abandon);
        if (PQconsumeInput(c) != 1)
            return false;
    }
}

// The next result of the statement being read, waiting for it until `deadline`: a null Result at
// the end of its results, nothing when the connection failed. Gives up (give_up) when the
// deadline passes first.
std::optional<Result> next_result(Connection &conn, WaitClock::time_point deadline,
                                  WaitClock::duration waited, const std::atomic<bool> *abandon) {
    PGconn *c = conn.get();
    for (;;) {
        if (!PQisBusy(c)) // what was read already holds it
            return Result(PQgetResult(c));
        if (!wait_socket(c, POLLIN, deadline, abandon))
            give_up(conn, waited, abandon);
        if (PQconsumeInput(c) != 1)
            return std::nullopt;
    }
}

// Reads what has arrived, without waiting: on a busy host the server has often answered by the
// time the send returns, and the first poll() of next_result is then a system call saved.
bool read_arrived(Connection &conn) {
    return PQconsumeInput(conn.get()) == 1;
}

// PQexec's rule for the results of one statement: the last wins, except that the first error is kept.
void keep(Result &kept, Result r) {
    if (!kept || kept.status() != PGRES_FATAL_ERROR)
        kept = std::move(r);
}

} // namespace

void abandon_connection(Connection &conn) noexcept {
    PGconn *c = conn.get();
    if (!c || PQsocket(c) < 0)
        return;
    shutdown(PQsocket(c), SHUT_RDWR);
    // libpq reads the end of the stream and marks the connection bad (CONNECTION_BAD).
    PQconsumeInput(c);
}

Result await_until(Connection &conn, WaitClock::time_point deadline, const std::atomic<bool> *abandon) {
    const auto waited = deadline - WaitClock::now();
    if (!read_arrived(conn))
        return Result();
    Result kept;
    while (std::optional<Result> r = next_result(conn, deadline, waited, abandon)) {
        if (!*r)
            return kept;
        const ExecStatusType status = r->status();
        keep(kept, std::move(*r));
        if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH)
            return kept; // as PQexec: the caller goes on with the COPY
    }
    return Result();
}

Result run_until(Connection &conn, const std::string &sql, WaitClock::time_point deadline,
                 const std::atomic<bool> *abandon) {
    PGconn *c = conn.get();
    if (!c || PQstatus(c) != CONNECTION_OK)
        return Result();
    const auto waited = deadline - WaitClock::now();
    // Sent without blocking too: the kernel's buffers towards a server that reads nothing fill up.
    BlockingMode mode{c, PQisnonblocking(c) == 1};
    if (!mode.was_nonblocking && PQsetnonblocking(c, 1) != 0)
        return Result();
    if (PQsendQuery(c, sql.c_str()) != 1 || !flush_until(conn, deadline, waited, abandon))
        return Result();
    return await_until(conn, deadline, abandon);
}

std::vector<PipelineResult> run_pipeline_until(Connection &conn, const std::vector<PipelineStep> &steps,
                                               WaitClock::duration group_wait,
                                               const std::atomic<bool> *abandon,
                                               WaitClock::duration first_group_wait) {
    if (steps.empty() || !steps.back().sql.empty())
        throw std::invalid_argument("a pipeline must end with a sync point");
    std::vector<PipelineResult> out;
    PGconn *c = conn.get();
    auto failed = [&]() {
        // The connection failed: every statement without a result gets a null one.
        std::size_t statements = 0;
        for (const PipelineStep &s : steps)
            statements += s.sql.empty() ? 0 : 1;
        while (out.size() < statements)
            out.push_back({Result(), WaitClock::now()});
        return std::move(out);
    };
    if (!c || PQstatus(c) != CONNECTION_OK)
        return failed();
    const auto first_wait = first_group_wait.count() > 0 ? first_group_wait : group_wait;
    auto deadline = WaitClock::now() + first_wait;
    auto waited = first_wait; // what the group being read may wait
    BlockingMode mode{c, PQisnonblocking(c) == 1};
    if ((!mode.was_nonblocking && PQsetnonblocking(c, 1) != 0) || PQenterPipelineMode(c) != 1)
        return failed();
    for (const PipelineStep &s : steps) {
        const int sent = s.sql.empty()
                             ? PQpipelineSync(c)
                             : PQsendQueryParams(c, s.sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0);
        if (sent != 1)
            return failed();
    }
    if (!flush_until(conn, deadline, waited, abandon) || !read_arrived(conn))
        return failed();
    for (const PipelineStep &s : steps) {
        if (s.sql.empty()) {
            const std::optional<Result> sync = next_result(conn, deadline, waited, abandon);
            if (!sync || !*sync || sync->status() != PGRES_PIPELINE_SYNC)
                return failed();
            deadline = WaitClock::now() + group_wait;
            waited = group_wait;
            continue;
        }
        Result kept;
        std::optional<Result> r;
        while ((r = next_result(conn, deadline, waited, abandon)) && *r)
            keep(kept, std::move(*r));
        if (!r || !kept || PQstatus(c) != CONNECTION_OK)
            return failed();
        out.push_back({std::move(kept), WaitClock::now()});
    }
    if (PQexitPipelineMode(c) != 1)
        abandon_connection(conn); // results left unread: the protocol state is unknown
    return out;
}

Result exec_until(Connection &conn, const std::string &sql, WaitClock::time_point deadline,
                  const std::atomic<bool> *abandon) {
    Result r = run_until(conn, sql, deadline, abandon);
    return check(std::move(r), conn);
}

} // namespace vigil::db
