// workloads.cpp — the named workloads of `vigild bench`: read, crud, transfer and mixed, on the
// schema of `vigild init-schema` (demo_schema.cpp).
#include <cerrno>
#include <mutex>
#include <optional>
#include <system_error>
#include <unordered_map>

#include <poll.h>

#include "workload/runner.hpp"
#include "commands/cli.hpp"
#include "exit_codes.hpp"

namespace vigil::bench {

namespace {

using pool::PgSession;
using pool::Statement;

// A uniformly random element index below n.
std::size_t pick_index(std::mt19937_64 &rng, std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
}

// Picks a name by weight.
class WeightedChoice {
  public:
    void add(std::string name, int weight) {
        if (weight <= 0)
            return;
        total_ += weight;
        entries_.emplace_back(total_, std::move(name));
    }
    const std::string &pick(std::mt19937_64 &rng) const {
        const int r = std::uniform_int_distribution<int>(1, total_)(rng);
        for (const auto &[bound, name] : entries_)
            if (r <= bound)
                return name;
        return entries_.back().second;
    }
    bool empty() const { return entries_.empty(); }

  private:
    int total_ = 0;
    std::vector<std::pair<int, std::string>> entries_;
};

[[noreturn]] void need_schema(const std::string &what) {
    throw CommandError(exit_code::data_error,
                       what + ": run `vigild init-schema` first to create and seed the demo schema");
}

// ---- read: a user (or, with --table, any row) by primary key ----------------------------------

const Statement kReadUser{"vigil_bench_read_user",
                          "SELECT id, email, username, full_name, age, active FROM users WHERE id = $1"};

// What a point read runs: the statement, the table (quoted) and its key column (quoted).
struct PointRead {
    Statement statement;
    std::string table;
    std::string key;
};

// The point read of a row of `table` by its single-column primary key: `columns` (all when
// empty), the key passed as text. Names come back quoted by the server, so any name is safe.
PointRead point_read(db::Connection &conn, const std::string &table,
                     const std::vector<std::string> &columns) {
    if (table == "users" && columns.empty()) {
        if (conn.scalar("SELECT to_regclass('users') IS NOT NULL") != "t")
            need_schema("table users does not exist");
        return PointRead{kReadUser, "users", "id"};
    }
    db::Result r = conn.exec_params(
        "SELECT format('%I.%I', n.nspname, c.relname), quote_ident(a.attname), i.indnkeyatts "
        "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "  LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
        "  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] "
        " WHERE c.oid = to_regclass($1)",
        {table});
    if (r.rows() == 0)
        throw CommandError(exit_code::data_error, "--table: no table named '" + table + "'");
    const std::string name = r.value(0, 0);
    if (r.is_null(0, 1) || r.value(0, 2) != "1")
        throw CommandError(exit_code::data_error,
                           "--table: " + name + " needs a primary key of one column for point reads");
    const std::string key = r.value(0, 1);
    std::string select_list;
    for (const std::string &column : columns) {
        db::Result a =
            conn.exec_params("SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = $1::regclass "
                             "AND attname = $2 AND attnum > 0 AND NOT attisdropped",
                             {name, column});
        if (a.rows() == 0)
            throw CommandError(exit_code::data_error,
                               "--columns: " + name + " has no column '" + column + "'");
        select_list += (select_list.empty() ? "" : ", ") + a.value(0, 0);
    }
    if (select_list.empty())
        select_list = "*";
    return PointRead{Statement{"vigil_bench_read_row",
                               "SELECT " + select_list + " FROM " + name + " WHERE " + key + " = $1"},
                     name, key};
}

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
                need_schema("table users is empty");
            throw CommandError(exit_code::data_error, "--table: " + read.table + " has no rows to read");
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
            finish(f, e.sqlstate().empty() ? "08006" : e.sqlstate(), true);
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
            f.reads->ms.insert(f.reads->ms.end(), static_cast<std::size_t>(f.n), static_cast<float>(ms.count()));
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

// ---- transfer: money moves between accounts ----------------------------------------------------

const Statement kLockPair{
    "vigil_bench_lock_pair",
    "SELECT id, balance FROM accounts WHERE id IN ($1::bigint, $2::bigint) ORDER BY id FOR UPDATE"};
const Statement kDebit{"vigil_bench_debit",
                       "UPDATE accounts SET balance = balance - $1::bigint WHERE id = $2::bigint"};
const Statement kCredit{"vigil_bench_credit",
                        "UPDATE accounts SET balance = balance + $1::bigint WHERE id = $2::bigint"};
const Statement kLedger{"vigil_bench_ledger",
                        "INSERT INTO transfers (from_id, to_id, amount, request_id) VALUES ($1, $2, $3, $4)"};
const Statement kTransferDone{"vigil_bench_transfer_done", "SELECT 1 FROM transfers WHERE request_id = $1"};

class TransferWorkload : public Workload {
  public:
    void prepare(db::Connection &conn) override {
        if (conn.scalar(
                "SELECT to_regclass('accounts') IS NOT NULL AND to_regclass('transfers') IS NOT NULL") != "t")
            need_schema("tables accounts and transfers do not exist");
        db::Result r = conn.exec("SELECT id, balance FROM accounts ORDER BY id");
        for (int i = 0; i < r.rows(); ++i) {
            ids_.push_back(r.value(i, 0));
            balances_.push_back(r.value(i, 1));
            total_before_ += std::stoll(r.value(i, 1));
        }
        if (ids_.size() < 2)
            need_schema("table accounts needs at least two accounts");
        ledger_start_ = conn.scalar("SELECT coalesce(max(id), 0) FROM transfers");
    }

    int step(Worker &w, int /*max_ops: always one*/) override {
        std::size_t a = pick_index(w.rng(), ids_.size()), b = pick_index(w.rng(), ids_.size() - 1);
        if (b >= a)
            ++b;
        const std::string &from = ids_[a], &to = ids_[b];
        const std::string amount = std::to_string(std::uniform_int_distribution<int>(1, 100)(w.rng()));
        const std::string request = "c" + std::to_string(w.id()) + "-" + std::to_string(++sequence_) + "-" +
                                    std::to_string(w.rng()());
        int attempt = 0;
        w.op("transfer", [&](PgSession &s) {
            // After a lost connection the earlier attempt may have committed: never transfer twice.
            if (attempt++ > 0 && s.run(kTransferDone, {request}).rows() == 1) {
                ++committed_;
                return;
            }
            s.conn.exec("BEGIN");
            // Both rows locked in id order, so two opposite transfers cannot deadlock.
            db::Result rows = s.run(kLockPair, {from, to});
            long long from_balance = -1;
            for (int i = 0; i < rows.rows(); ++i)
                if (rows.value(i, 0) == from)
                    from_balance = std::stoll(rows.value(i, 1));
            if (from_balance < std::stoll(amount)) {
                s.conn.exec("ROLLBACK");
                ++declined_;
                return;
            }
            s.run(kDebit, {amount, from});
            s.run(kCredit, {amount, to});
            s.run(kLedger, {from, to, amount, request});
            s.conn.exec("COMMIT");
            ++committed_;
        });
        return 1;
    }

    // The invariant: money is neither created nor destroyed, and every committed transfer is in
    // the ledger and accounts for each account's change.
    nlohmann::json finish(db::Connection &conn) override {
        std::string id_array = "{", balance_array = "{";
        for (std::size_t i = 0; i < ids_.size(); ++i) {
            id_array += (i ? "," : "") + ids_[i];
            balance_array += (i ? "," : "") + balances_[i];
        }
        id_array += "}";
        balance_array += "}";
        db::Result r = conn.exec_params(
            "SELECT (SELECT coalesce(sum(balance), 0) FROM accounts),"
            "       (SELECT count(*) FROM transfers WHERE id > $3::bigint),"
            "       (SELECT count(*) FROM accounts a"
            "          JOIN unnest($1::bigint[], $2::bigint[]) AS s (id, before) USING (id)"
            "          LEFT JOIN (SELECT to_id AS id, sum(amount) AS incoming FROM transfers"
            "                     WHERE id > $3::bigint GROUP BY to_id) i USING (id)"
            "          LEFT JOIN (SELECT from_id AS id, sum(amount) AS outgoing FROM transfers"
            "                     WHERE id > $3::bigint GROUP BY from_id) o USING (id)"
            "         WHERE a.balance <> s.before + coalesce(i.incoming, 0) - coalesce(o.outgoing, 0))",
            {id_array, balance_array, ledger_start_});
        const long long total_after = std::stoll(r.value(0, 0));
        const long long ledger = std::stoll(r.value(0, 1));
        const long long mismatched = std::stoll(r.value(0, 2));
        const long long committed = committed_.load();
        const bool ok = total_after == total_before_ && ledger == committed && mismatched == 0;
        std::string message = "total balance " + std::to_string(total_before_) + " before, " +
                              std::to_string(total_after) + " after; " + std::to_string(committed) +
                              " transfers committed, " + std::to_string(ledger) + " in the ledger; " +
                              std::to_string(mismatched) + " accounts disagree with the ledger";
        return {{"ok", ok},
                {"message", message},
                {"total_before", total_before_},
                {"total_after", total_after},
                {"committed", committed},
                {"declined", declined_.load()},
                {"ledger_rows", ledger},
                {"mismatched_accounts", mismatched}};
    }

  private:
    std::vector<std::string> ids_, balances_;
    long long total_before_ = 0;
    std::string ledger_start_;
    std::atomic<long long> committed_{0}, declined_{0}, sequence_{0};
};

// ---- crud: a web application's mix of user and post operations ----------------------------------

// The users the workload knows about (id, email): shared by all clients, updated as they
// create and delete.
class UserDirectory {
  public:
    void add(std::string id, std::string email) {
        std::lock_guard lk(m_);
        index_[id] = users_.size();
        users_.emplace_back(std::move(id), std::move(email));
    }
    std::optional<std::pair<std::string, std::string>> pick(std::mt19937_64 &rng) {
        std::lock_guard lk(m_);
        if (users_.empty())
            return std::nullopt;
        return users_[pick_index(rng, users_.size())];
    }
    void remove(const std::string &id) {
        std::lock_guard lk(m_);
        auto it = index_.find(id);
        if (it == index_.end())
            return;
        const std::size_t i = it->second;
        index_.erase(it);
        if (i + 1 != users_.size()) {
            users_[i] = std::move(users_.back());
            index_[users_[i].first] = i;
        }
        users_.pop_back();
    }
    std::size_t size() {
        std::lock_guard lk(m_);
        return users_.size();
    }

  private:
    std::mutex m_;
    std::vector<std::pair<std::string, std::string>> users_;
    std::unordered_map<std::string, std::size_t> index_;
};

const Statement kCreateUser{
    "vigil_bench_create_user",
    "INSERT INTO users (email, username, full_name, bio, age) VALUES ($1, $2, $3, $4, $5::int)"
    " RETURNING id"};
const Statement kUserById{
    "vigil_bench_user_by_id",
    "SELECT id, email, username, full_name, bio, age, active, version FROM users WHERE id = $1"};
const Statement kUserByEmail{
    "vigil_bench_user_by_email",
    "SELECT id, email, username, full_name, bio, age, active, version FROM users WHERE email = $1"};
const Statement kUserVersion{"vigil_bench_user_version", "SELECT version FROM users WHERE id = $1"};
const Statement kOptimisticUpdate{
    "vigil_bench_optimistic_update",
    "SELECT status, new_version, current_version FROM vigil.optimistic_update('users'::regclass,"
    " jsonb_build_object('id', $1::text), $2::bigint, jsonb_build_object('bio', $3::text, 'full_name', "
    "$4::text))"};
const Statement kSoftDelete{"vigil_bench_soft_delete",
                            "UPDATE users SET active = false WHERE id = $1 AND active"};
const Statement kHardDelete{"vigil_bench_hard_delete", "DELETE FROM users WHERE id = $1"};
const Statement kCreatePost{"vigil_bench_create_post",
                            "INSERT INTO posts (user_id, title, body) VALUES ($1, $2, $3)"};
const Statement kFeed{"vigil_bench_feed",
                      "SELECT p.id, p.title, p.created_at, u.username, u.full_name FROM posts p"
                      " JOIN users u ON u.id = p.user_id ORDER BY p.created_at DESC LIMIT 20"};
const Statement kUserPage{
    "vigil_bench_user_page",
    "SELECT id, username, full_name FROM users WHERE active AND id > $1 ORDER BY id LIMIT 20"};

class CrudWorkload : public Workload {
  public:
    CrudWorkload() {
        ops_.add("create_user", 10);
        ops_.add("read_by_id", 25);
        ops_.add("read_by_email", 15);
        ops_.add("update", 15);
        ops_.add("soft_delete", 5);
        ops_.add("hard_delete", 5);
        ops_.add("create_post", 10);
        ops_.add("feed", 10);
        ops_.add("list_users", 5);
    }

    void prepare(db::Connection &conn) override {
        if (conn.scalar("SELECT to_regclass('users') IS NOT NULL AND to_regclass('posts') IS NOT NULL") !=
            "t")
            need_schema("tables users and posts do not exist");
        if (conn.scalar("SELECT to_regprocedure('vigil.optimistic_update(regclass,jsonb,bigint,jsonb,name)')"
                        " IS NOT NULL") != "t")
            throw CommandError(
                exit_code::unavailable,
                "vigil.optimistic_update does not exist: the crud workload needs the pgvigil "
                "extension with optimistic updates (CREATE EXTENSION pgvigil, or ALTER EXTENSION "
                "pgvigil UPDATE)");
        db::Result r = conn.exec("SELECT id, email FROM users WHERE active LIMIT 200000");
        for (int i = 0; i < r.rows(); ++i)
            users_.add(r.value(i, 0), r.value(i, 1));
        if (users_.size() == 0)
            need_schema("table users has no active users");
    }

    int step(Worker &w, int /*max_ops: always one*/) override {
        const std::string &op = ops_.pick(w.rng());
        const std::string tag = std::to_string(w.id()) + "-" + std::to_string(++sequence_) + "-" +
                                std::to_string(w.rng()() % 1000000007ULL);
        if (op == "create_user") {
            const std::string email = "new" + tag + "@example.com";
            const std::string age = std::to_string(13 + static_cast<int>(w.rng()() % 100));
            w.op(op, [&](PgSession &s) {
                db::Result r = s.run(kCreateUser, {email, "new" + tag, "New User " + tag, "hello", age});
                users_.add(r.value(0, 0), email);
            });
        } else if (op == "feed") {
            w.op(
                op, [&](PgSession &s) { s.run(kFeed, {}); }, Access::read);
        } else {
            auto user = users_.pick(w.rng());
            if (!user) {
                w.op("create_user", [&](PgSession &s) {
                    db::Result r =
                        s.run(kCreateUser, {"new" + tag + "@example.com", "new" + tag, "New", "", "30"});
                    users_.add(r.value(0, 0), "new" + tag + "@example.com");
                });
                return 1;
            }
            const std::string &id = user->first;
            if (op == "read_by_id") {
                w.op(
                    op, [&](PgSession &s) { s.run(kUserById, {id}); }, Access::read);
            } else if (op == "read_by_email") {
                w.op(
                    op, [&](PgSession &s) { s.run(kUserByEmail, {user->second}); }, Access::read);
            } else if (op == "update") {
                // Read the version, then update only if nobody changed the row since (lost-update
                // protection); a conflict is a 40001, so the op re-reads and tries again.
                w.op(op, [&](PgSession &s) {
                    db::Result v = s.run(kUserVersion, {id});
                    if (v.rows() == 0)
                        return; // deleted meanwhile
                    db::Result r =
                        s.run(kOptimisticUpdate, {id, v.value(0, 0), "bio " + tag, "Updated " + tag});
                    if (r.value(0, 0) == "conflict")
                        throw db::DbError("optimistic update conflict on users " + id, "40001");
                });
            } else if (op == "soft_delete") {
                w.op(op, [&](PgSession &s) { s.run(kSoftDelete, {id}); });
            } else if (op == "hard_delete") {
                w.op(op, [&](PgSession &s) {
                    s.run(kHardDelete, {id}); // its posts go with it (ON DELETE CASCADE)
                    users_.remove(id);
                });
            } else if (op == "create_post") {
                w.op(op, [&](PgSession &s) {
                    s.run(kCreatePost, {id, "post " + tag, "body of post " + tag});
                });
            } else if (op == "list_users") {
                // Keyset pagination: two consecutive pages after a random user.
                w.op(
                    op,
                    [&](PgSession &s) {
                        db::Result page = s.run(kUserPage, {id});
                        if (page.rows() > 0)
                            s.run(kUserPage, {page.value(page.rows() - 1, 0)});
                    },
                    Access::read);
            }
        }
        return 1;
    }

  private:
    WeightedChoice ops_;
    UserDirectory users_;
    std::atomic<long long> sequence_{0};
};

// ---- mixed: the three above, by weight ------------------------------------------------------------

class MixedWorkload : public Workload {
  public:
    explicit MixedWorkload(const Options &o) {
        std::map<std::string, int> weights = o.weights;
        if (weights.empty())
            weights = {{"read", 50}, {"crud", 40}, {"transfer", 10}};
        for (const auto &[name, weight] : weights) {
            if (name != "read" && name != "crud" && name != "transfer")
                throw CommandError(exit_code::usage,
                                   "--weights: unknown workload '" + name + "' (use read, crud, transfer)");
            if (weight > 0)
                parts_[name] = make_workload(name, o);
            choice_.add(name, weight);
        }
        if (choice_.empty())
            throw CommandError(exit_code::usage, "--weights: at least one weight must be positive");
    }
    void prepare(db::Connection &conn) override {
        for (auto &[name, w] : parts_)
            w->prepare(conn);
    }
    int step(Worker &w, int max_ops) override { return parts_[choice_.pick(w.rng())]->step(w, max_ops); }
    nlohmann::json finish(db::Connection &conn) override {
        auto it = parts_.find("transfer");
        return it == parts_.end() ? nlohmann::json(nullptr) : it->second->finish(conn);
    }

  private:
    std::map<std::string, std::unique_ptr<Workload>> parts_;
    WeightedChoice choice_;
};

} // namespace

std::unique_ptr<Workload> make_workload(const std::string &name, const Options &options) {
    if (name == "read")
        return std::make_unique<ReadWorkload>(options.pipeline, options.table, options.columns);
    if (name == "transfer")
        return std::make_unique<TransferWorkload>();
    if (name == "crud")
        return std::make_unique<CrudWorkload>();
    if (name == "mixed")
        return std::make_unique<MixedWorkload>(options);
    throw CommandError(exit_code::usage,
                       "unknown workload '" + name + "' (use read, crud, transfer or mixed)");
}

} // namespace vigil::bench
