// transfer.cpp — the transfer workload: money moves between accounts in transactions, and
// afterwards the ledger must account for every balance.
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <mutex>
#include <stdexcept>

#include "wall_clock.hpp"
#include "workload/workloads.hpp"

namespace vigil::bench {

namespace {

using pool::PgSession;
using pool::Statement;

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

// $VIGIL_BENCH_ACKNOWLEDGED_LOG names a file that gets a line per transfer vigild saw committed,
// written as each is acknowledged: its request_id, a tab, and the time (Unix seconds). A
// failover test compares the ids with the new primary's ledger and times the outage from the
// gap (docs/high-availability.md).
class AcknowledgedLog {
  public:
    AcknowledgedLog() {
        const char *path = std::getenv("VIGIL_BENCH_ACKNOWLEDGED_LOG");
        if (!path || !*path)
            return;
        out_.open(path, std::ios::out | std::ios::app);
        if (!out_)
            // Before any client starts; vigild exits 70 with this message.
            throw std::runtime_error(std::string("VIGIL_BENCH_ACKNOWLEDGED_LOG: cannot write ") + path);
    }
    void record(const std::string &request_id) {
        if (!out_.is_open())
            return;
        const std::lock_guard<std::mutex> lock(mutex_);
        out_ << request_id << '\t' << std::fixed << std::setprecision(6) << now_epoch() << '\n';
        out_.flush(); // a run cut short still leaves every acknowledgement it made
    }

  private:
    std::mutex mutex_;
    std::ofstream out_;
};

class TransferWorkload : public Workload {
  public:
    void prepare(db::Connection &conn) override {
        if (conn.scalar(
                "SELECT to_regclass('accounts') IS NOT NULL AND to_regclass('transfers') IS NOT NULL") != "t")
            need_demo_schema("tables accounts and transfers do not exist");
        db::Result r = conn.exec("SELECT id, balance FROM accounts ORDER BY id");
        for (int i = 0; i < r.rows(); ++i) {
            ids_.push_back(r.value(i, 0));
            balances_.push_back(r.value(i, 1));
            total_before_ += std::stoll(r.value(i, 1));
        }
        if (ids_.size() < 2)
            need_demo_schema("table accounts needs at least two accounts");
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
                acknowledged_.record(request);
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
            acknowledged_.record(request);
        });
        return 1;
    }

    bool checks_invariant() const override { return true; }

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
    AcknowledgedLog acknowledged_;
};

} // namespace

std::unique_ptr<Workload> make_transfer_workload() {
    return std::make_unique<TransferWorkload>();
}

} // namespace vigil::bench
