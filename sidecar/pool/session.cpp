// session.cpp — PgSession (state, rollback, ping, prepared statements, the wait for a result)
// and the libpq connector that opens them for a pool.
#include "pool/pool.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include <poll.h>
#include <spdlog/spdlog.h>

#include "db_wait.hpp"
#include "dsn_params.hpp"

namespace vigil::pool {

PgSession::PgSession(db::Connection connection, bool named_statements,
                     std::chrono::duration<double> round_trip_timeout)
    : conn(std::move(connection)), named_statements_(named_statements),
      round_trip_timeout_(round_trip_timeout) {
    if (conn) {
        // libpq's own receiver hands the notice to the notice processor; the argument it was set
        // with cannot be read back, and it ignores it.
        notice_hook_->previous = PQsetNoticeReceiver(conn.get(), &PgSession::on_notice, notice_hook_.get());
    }
}

void PgSession::on_notice(void *hook, const PGresult *notice) {
    auto *h = static_cast<NoticeHook *>(hook);
    const char *severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity && (std::strcmp(severity, "FATAL") == 0 || std::strcmp(severity, "PANIC") == 0))
        h->server_gone = true;
    if (h->previous)
        h->previous(nullptr, notice);
}

Session::State PgSession::state() {
    if (!conn.healthy() || notice_hook_->server_gone)
        return State::broken;
    if (PQpipelineStatus(conn.get()) != PQ_PIPELINE_OFF)
        return State::busy;
    switch (PQtransactionStatus(conn.get())) {
    case PQTRANS_IDLE: {
        // An idle connection has nothing to read, unless its server is gone: a backend that
        // exited (immediate or fast shutdown, pg_terminate_backend) sent its last message and
        // closed the socket. A poll without waiting sees it, so a dead connection is not handed
        // out. The message (FATAL when terminated, a WARNING on immediate shutdown) and the end of
        // the stream may come apart: the message alone is enough once PQisBusy() has parsed it
        // (PQconsumeInput only reads), since on an idle connection it goes to the notice hook. A
        // few rounds, never a wait.
        for (int round = 0; round < 4; ++round) {
            pollfd fd{PQsocket(conn.get()), POLLIN, 0};
            if (poll(&fd, 1, 0) <= 0)
                break;
            if (PQconsumeInput(conn.get()) != 1 || !conn.healthy())
                return State::broken;
            PQisBusy(conn.get());
            if (notice_hook_->server_gone || !conn.healthy())
                return State::broken;
        }
        return State::idle;
    }
    case PQTRANS_INTRANS:
    case PQTRANS_INERROR:
        return State::in_transaction;
    case PQTRANS_ACTIVE:
        return State::busy;
    default:
        return State::broken;
    }
}

std::chrono::steady_clock::time_point
PgSession::round_trip_deadline(std::chrono::steady_clock::time_point cap) const {
    if (round_trip_timeout_.count() <= 0)
        return cap;
    const auto now = std::chrono::steady_clock::now();
    const auto bound =
        now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(round_trip_timeout_);
    return std::min(bound, cap);
}

bool PgSession::rollback() {
    try {
        db::Result r = db::run_until(conn, "ROLLBACK", round_trip_deadline());
        return r && r.status() == PGRES_COMMAND_OK && state() == State::idle;
    } catch (const db::NoAnswer &e) {
        spdlog::warn("rollback of a returned connection: {}", e.what());
        return false;
    }
}

bool PgSession::ping() {
    return ping_until(std::chrono::steady_clock::time_point::max());
}

bool PgSession::ping_until(std::chrono::steady_clock::time_point deadline) {
    // An empty query is the cheapest round trip the protocol has. A server that does not answer
    // within validation_timeout (stopped processes, a dead network path) gets the connection closed.
    try {
        db::Result r = db::run_until(conn, "", round_trip_deadline(deadline));
        return r && r.status() == PGRES_EMPTY_QUERY && conn.healthy();
    } catch (const db::NoAnswer &e) {
        spdlog::warn("connection check: {}", e.what());
        return false;
    }
}

std::string PgSession::server() {
    const char *host = PQhost(conn.get());
    const char *port = PQport(conn.get());
    return std::string(host ? host : "") + ":" + (port ? port : "");
}

bool PgSession::read_only() {
    // Both are reported by the server (GUC_REPORT, PostgreSQL 14 and later) whenever they change.
    const char *standby = PQparameterStatus(conn.get(), "in_hot_standby");
    const char *read_only = PQparameterStatus(conn.get(), "default_transaction_read_only");
    return (standby && std::string(standby) == "on") || (read_only && std::string(read_only) == "on");
}

bool PgSession::ensure_prepared(const Statement &st) {
    if (!named_statements_)
        return false;
    if (prepared_.count(st.name))
        return true;
    db::check(db::Result(PQprepare(conn.get(), st.name.c_str(), st.sql.c_str(), 0, nullptr)), conn);
    prepared_.insert(st.name);
    return true;
}

db::Result PgSession::run(const Statement &st, const db::Params &params) {
    std::vector<const char *> values;
    values.reserve(params.size());
    for (const auto &p : params)
        values.push_back(p ? p->c_str() : nullptr);
    return run(st, values.data(), static_cast<int>(values.size()));
}

// PQexec's wait, less one system call: libpq polls the socket before every read, but on a busy
// host the server has often answered by the time the send returns, so read first and poll only
// when nothing has arrived. Like PQexec, the first error wins and COPY results return at once.
db::Result PgSession::await_result() {
    return db::await_until(conn, db::WaitClock::time_point::max()); // as PQexec: no deadline
}

db::Result PgSession::run(const Statement &st, const char *const *values, int count) {
    try {
        db::Result r = run_once(st, values, count);
        last_failure_.clear();
        return r;
    } catch (const db::DbError &e) {
        last_failure_ = e.sqlstate().empty() ? "08006" : e.sqlstate();
        throw;
    }
}

db::Result PgSession::run_once(const Statement &st, const char *const *values, int count) {
    if (!named_statements_) {
        if (PQsendQueryParams(conn.get(), st.sql.c_str(), count, nullptr, values, nullptr, nullptr, 0) != 1)
            return db::check(db::Result(), conn);
        return db::check(await_result(), conn);
    }
    for (int attempt = 0;; ++attempt) {
        ensure_prepared(st);
        if (PQsendQueryPrepared(conn.get(), st.name.c_str(), count, values, nullptr, nullptr, 0) != 1)
            return db::check(db::Result(), conn);
        db::Result r = await_result();
        // 26000: the server lost the statement (DISCARD ALL, a pooler in between): prepare again.
        if (attempt == 0 && r && r.status() == PGRES_FATAL_ERROR && r.sqlstate() == "26000" &&
            PQtransactionStatus(conn.get()) == PQTRANS_IDLE) {
            prepared_.erase(st.name);
            continue;
        }
        return db::check(std::move(r), conn);
    }
}

namespace {

thread_local std::optional<Clock::time_point> this_threads_connect_deadline;

// The DSN with libpq's connect_timeout set to the time left until `deadline` (whole seconds,
// libpq's unit, at least 2: libpq's own minimum), unless the DSN asks for less: a server that
// accepts the TCP connection and then never answers the startup (frozen) is given up on.
std::string with_connect_timeout(const std::string &dsn, Clock::time_point deadline) {
    const double left = std::chrono::duration<double>(deadline - Clock::now()).count();
    long long seconds = std::max(2LL, static_cast<long long>(std::ceil(left)));
    if (!dsn.empty()) {
        const auto params = parse_dsn(dsn); // throws InvalidDsn, as Connection::open would
        // libpq's connect_timeout is per host: with several, each gets its share of the time
        // left, so a frozen first host (the old primary) leaves time for the next one.
        const std::size_t hosts = dsn_hosts(dsn).size();
        if (hosts > 1)
            seconds = std::max(2LL, static_cast<long long>(left / static_cast<double>(hosts)));
        const auto own = params.find("connect_timeout");
        if (own != params.end()) {
            try {
                const long long asked = std::stoll(own->second);
                if (asked > 0 && asked < seconds)
                    return dsn;
            } catch (const std::exception &) {
                return dsn; // libpq reports a bad value itself
            }
        }
    }
    return dsn_with(dsn, {{"connect_timeout", std::to_string(seconds)}});
}

} // namespace

ConnectDeadline::ConnectDeadline(Clock::time_point deadline) : previous_(this_threads_connect_deadline) {
    this_threads_connect_deadline = deadline;
}
ConnectDeadline::~ConnectDeadline() {
    this_threads_connect_deadline = previous_;
}

namespace {

// libpq's default gssencmode (prefer) looks for Kerberos credentials before every connect
// (gss_acquire_cred: a third of a loopback connect's CPU, measured with perf). When a connect
// without GSS encryption has succeeded, the pool's next connects say gssencmode=disable, which
// gives them the connection libpq would make anyway, for kRecheck; a connect that fails, and
// the end of kRecheck (credentials from a later kinit), go back to the DSN as written. A DSN or
// PGGSSENCMODE that sets gssencmode is always left alone. Thread-safe.
class GssShortcut {
  public:
    explicit GssShortcut(const std::string &dsn) : dsn_(dsn) {
        try {
            if (!dsn.empty() && !parse_dsn(dsn).count("gssencmode") && !std::getenv("PGGSSENCMODE"))
                shortcut_ = dsn_with(dsn, {{"gssencmode", "disable"}});
        } catch (const InvalidDsn &) {
            // Connection::open reports it.
        }
    }
    const std::string &dsn() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return !shortcut_.empty() && Clock::now() < valid_until_ ? shortcut_ : dsn_;
    }
    void connected(const db::Connection &conn) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (shortcut_.empty() || PQgssEncInUse(conn.get()))
            valid_until_ = {};
        else if (Clock::now() >= valid_until_)
            valid_until_ = Clock::now() + kRecheck;
    }
    void failed() {
        std::lock_guard<std::mutex> lock(mutex_);
        valid_until_ = {};
    }

  private:
    static constexpr std::chrono::minutes kRecheck{10};
    const std::string dsn_;
    std::string shortcut_; // empty: no shortcut for this DSN
    mutable std::mutex mutex_;
    Clock::time_point valid_until_{};
};

} // namespace

Connector pg_connector(const Settings &settings) {
    auto gss = std::make_shared<GssShortcut>(settings.dsn);
    return [settings, gss]() -> std::unique_ptr<Session> {
        const Clock::time_point deadline = this_threads_connect_deadline.value_or(
            Clock::now() + std::chrono::duration_cast<Clock::duration>(settings.acquire_timeout));
        db::Connection conn;
        try {
            conn =
                db::Connection::open(with_connect_timeout(gss->dsn(), deadline), settings.application_name);
        } catch (...) {
            gss->failed();
            throw;
        }
        gss->connected(conn);
        auto session = std::make_unique<PgSession>(std::move(conn), settings.named_statements,
                                                   settings.validation_timeout);
        if (settings.statement_timeout.count() > 0) {
            const auto ms = static_cast<long long>(settings.statement_timeout.count() * 1000);
            // Connected, and then the server may still not answer.
            db::exec_until(session->conn, "SET statement_timeout = " + std::to_string(ms),
                           std::max(deadline, Clock::now() + std::chrono::seconds(2)));
        }
        return session;
    };
}

} // namespace vigil::pool
