// read.cpp — the read workload: a user (or, with another table, any row) by primary key, one
// at a time or in libpq pipeline batches, with many clients multiplexed on a thread.
#include <algorithm>
#include <cerrno>
#include <optional>
#include <system_error>

#include <poll.h>

#include "workload/workloads.hpp"

namespace vigil::bench {

namespace {

using pool::PgSession;
using pool::Statement;

class ReadWorkload : public Workload {
  public:
    ReadWorkload(int pipeline, std::string table, std::vector<std::string> columns)
        : pipeline_(std::max(1, pipeline)), table_(std::move(table)), columns_(std::move(columns)) {}

    void prepare(db::Connection &conn) override {
        const PointRead read = point_read(conn, table_, columns_);
        statement_ = read.statement;
        db::Result r = conn.exec("SELECT " + read.key + "::text FROM " + read.table + " LIMIT 1000000");
        for (int i = 0; i < r.rows(); ++i)
            keys_.push_back(r.value(i, 0));
        if (keys_.empty()) {
            if (table_ == "users")
                need_demo_schema("table users is empty");
            throw WorkloadError(WorkloadError::Kind::table, read.table + " has no rows to read");
        }
    }

    int step(Worker &w, int max_ops) override {
        const int n = std::min(pipeline_, max_ops);
        if (n <= 1) {
            const char *key = keys_[pick_index(w.rng(), keys_.size())].c_str();
            w.op(
                "read", [&](PgSession &s) { s.run(statement_, &key, 1); }, Access::read);
            return 1;
        }
        // A pipeline batch: the multiplexed path's send and receive, waiting on the one socket.
        Flight f(w);
        send(f, n); // a failed send has finished the flight already
        while (f.handle) {
            receive(f); // the answer may be there before any poll
            if (!f.handle)
                break;
            pollfd fd{PQsocket(f.handle->session().conn.get()), POLLIN, 0};
            if (poll(&fd, 1, 1000) < 0 && errno != EINTR)
                throw std::system_error(errno, std::generic_category(), "poll");
        }
        return n;
    }

    bool multiplexes() const override { return true; }

    void run_clients(const std::vector<Worker *> &clients, const std::function<int(int)> &take) override {
        std::vector<Flight> flights;
        for (Worker *w : clients)
            flights.emplace_back(*w);
        bool stopping = false;
        // Moves one client on as far as it goes without waiting, as pgbench's state machine
        // does: take in what has arrived, and when its reads are done send the next ones and
        // look for their answer at once. On a busy host the server often answers before the
        // send returns, so that look saves a poll.
        const auto advance = [&](Flight &f) {
            for (;;) {
                if (f.handle) {
                    receive(f);
                    if (f.handle)
                        return; // still waiting for the server
                }
                if (stopping)
                    return;
                const int n = take(pipeline_);
                if (n == 0) {
                    stopping = true;
                    return;
                }
                send(f, n);
            }
        };
        std::vector<pollfd> fds;
        std::vector<Flight *> waiting;
        for (Flight &f : flights)
            advance(f);
        for (;;) {
            fds.clear();
            waiting.clear();
            for (Flight &f : flights)
                if (f.handle) {
                    fds.push_back(pollfd{PQsocket(f.handle->session().conn.get()), POLLIN, 0});
                    waiting.push_back(&f);
                }
            if (fds.empty())
                return; // advance leaves a client idle only once the work has run out
            if (poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR)
                throw std::system_error(errno, std::generic_category(), "poll");
            for (std::size_t i = 0; i < fds.size(); ++i)
                if (fds[i].revents != 0)
                    advance(*waiting[i]);
        }
    }

  private:
    // One client of a multiplexed thread and the reads it has in flight.
    struct Flight {
        explicit Flight(Worker &w) : worker(&w), reads(&w.samples["read"]) {}
        Worker *worker;
        OpSamples *reads;             // the worker's "read" samples, looked up once
        std::optional<Handle> handle; // the connection borrowed for the reads in flight
        std::chrono::steady_clock::time_point start;
        int n = 0;            // reads in flight (more than one: a pipeline batch)
        std::string sqlstate; // the first failure among them
    };

    // Borrows a connection and sends n reads on it (a pipeline batch when n > 1).
    void send(Flight &f, int n) {
        f.start = std::chrono::steady_clock::now();
        f.n = n;
        f.sqlstate.clear();
        try {
            f.handle.emplace(f.worker->connect(Access::read));
            PgSession &s = f.handle->session();
            PGconn *c = s.conn.get();
            const bool named = s.ensure_prepared(statement_);
            if (n > 1 && PQenterPipelineMode(c) != 1)
                throw db::DbError("cannot enter pipeline mode: " + s.conn.error_message(), "08006");
            for (int i = 0; i < n; ++i) {
                const char *key = keys_[pick_index(f.worker->rng(), keys_.size())].c_str();
                const int sent =
                    named
                        ? PQsendQueryPrepared(c, statement_.name.c_str(), 1, &key, nullptr, nullptr, 0)
                        : PQsendQueryParams(c, statement_.sql.c_str(), 1, nullptr, &key, nullptr, nullptr, 0);
                if (sent != 1)
                    throw db::DbError("send failed: " + s.conn.error_message(), "08006");
            }
            if (n > 1 && PQpipelineSync(c) != 1)
                throw db::DbError("pipeline sync failed: " + s.conn.error_message(), "08006");
        } catch (const db::DbError &e) {
            // An SQL error (a failed prepare) leaves the connection idle and reusable; closing it
            // would make every failed operation open a new connection.
            const bool broken = !f.handle || f.handle->session().state() != pool::Session::State::idle;
            finish(f, e.sqlstate().empty() ? "08006" : e.sqlstate(), broken);
        }
    }

    // Reads what has arrived; finishes the flight when its last result is in.
    void receive(Flight &f) {
        PGconn *c = f.handle->session().conn.get();
        if (PQconsumeInput(c) != 1) {
            finish(f, "08006", true);
            return;
        }
        while (!PQisBusy(c)) {
            db::Result r(PQgetResult(c));
            if (!r) {
                if (f.n == 1) { // a lone query's results end with a null: done
                    finish(f, f.sqlstate, false);
                    return;
                }
                continue; // the end of one pipelined query's results
            }
            if (r.status() == PGRES_PIPELINE_SYNC) {
                const bool left = PQexitPipelineMode(c) == 1;
                finish(f, f.sqlstate, !left);
                return;
            }
            if (r.status() != PGRES_TUPLES_OK && f.sqlstate.empty())
                f.sqlstate = r.sqlstate().empty() ? "XX000" : r.sqlstate();
        }
    }

    // Records the flight's reads (successes, or failures under sqlstate) and returns the
    // connection; a connection in an unknown state is closed instead.
    void finish(Flight &f, const std::string &sqlstate, bool broken) {
        if (sqlstate.empty()) {
            const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - f.start;
            f.reads->ms.insert(f.reads->ms.end(), static_cast<std::size_t>(f.n),
                               static_cast<float>(ms.count()));
        } else {
            for (int i = 0; i < f.n; ++i)
                f.worker->record_error("read", sqlstate, 0);
        }
        if (f.handle && broken)
            f.handle->mark_broken();
        f.handle.reset();
    }

    int pipeline_;
    std::string table_;
    std::vector<std::string> columns_;
    Statement statement_;
    std::vector<std::string> keys_;
};

} // namespace

std::unique_ptr<Workload> make_read_workload(int pipeline, std::string table,
                                             std::vector<std::string> columns) {
    return std::make_unique<ReadWorkload>(pipeline, std::move(table), std::move(columns));
}

} // namespace vigil::bench
