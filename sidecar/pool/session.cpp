// session.cpp — PgSession (state, rollback, ping, prepared statements, the wait for a result)
// and the libpq connector that opens them for a pool.
#include "pool/pool.hpp"

#include <cerrno>
#include <vector>

#include <poll.h>

namespace vigil::pool {

Session::State PgSession::state() {
    if (!conn.healthy())
        return State::broken;
    if (PQpipelineStatus(conn.get()) != PQ_PIPELINE_OFF)
        return State::busy;
    switch (PQtransactionStatus(conn.get())) {
    case PQTRANS_IDLE:
        return State::idle;
    case PQTRANS_INTRANS:
    case PQTRANS_INERROR:
        return State::in_transaction;
    case PQTRANS_ACTIVE:
        return State::busy;
    default:
        return State::broken;
    }
}

bool PgSession::rollback() {
    db::Result r(PQexec(conn.get(), "ROLLBACK"));
    return r && r.status() == PGRES_COMMAND_OK && state() == State::idle;
}

bool PgSession::ping() {
    // An empty query is the cheapest round trip the protocol has.
    db::Result r(PQexec(conn.get(), ""));
    return r && r.status() == PGRES_EMPTY_QUERY && conn.healthy();
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
    PGconn *c = conn.get();
    db::Result kept;
    for (;;) {
        if (PQconsumeInput(c) != 1)
            return db::Result(); // the connection failed: db::check reports libpq's message
        while (!PQisBusy(c)) {
            db::Result r(PQgetResult(c));
            if (!r)
                return kept;
            const ExecStatusType status = r.status();
            if (!kept || kept.status() != PGRES_FATAL_ERROR)
                kept = std::move(r);
            if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH)
                return kept;
        }
        pollfd fd{PQsocket(c), POLLIN, 0};
        if (poll(&fd, 1, -1) < 0 && errno != EINTR)
            return db::Result();
    }
}

db::Result PgSession::run(const Statement &st, const char *const *values, int count) {
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

Connector pg_connector(const Settings &settings) {
    return [settings]() -> std::unique_ptr<Session> {
        auto session = std::make_unique<PgSession>(
            db::Connection::open(settings.dsn, settings.application_name), settings.named_statements);
        if (settings.statement_timeout.count() > 0) {
            const auto ms = static_cast<long long>(settings.statement_timeout.count() * 1000);
            session->conn.exec("SET statement_timeout = " + std::to_string(ms));
        }
        return session;
    };
}

} // namespace vigil::pool
