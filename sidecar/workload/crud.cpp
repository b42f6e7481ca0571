// crud.cpp — the crud workload: a web application's mix of user and post operations, updates
// with optimistic locking (vigil.optimistic_update).
#include <atomic>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "workload/workloads.hpp"

namespace vigil::bench {

namespace {

using pool::PgSession;
using pool::Statement;

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
// Another client may be deleting the author meanwhile: the author's row is locked as the foreign
// key check would lock it, so a post for an author deleted meanwhile is not written (no row, not
// a 23503 from the foreign key).
const Statement kCreatePost{"vigil_bench_create_post",
                            "INSERT INTO posts (user_id, title, body)"
                            " SELECT id, $2, $3 FROM users WHERE id = $1 FOR KEY SHARE RETURNING id"};
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
            need_demo_schema("tables users and posts do not exist");
        if (conn.scalar("SELECT to_regprocedure('vigil.optimistic_update(regclass,jsonb,bigint,jsonb,name)')"
                        " IS NOT NULL") != "t")
            throw WorkloadError(
                WorkloadError::Kind::extension,
                "vigil.optimistic_update does not exist: the crud workload needs the pgvigil "
                "extension with optimistic updates (CREATE EXTENSION pgvigil, or ALTER EXTENSION "
                "pgvigil UPDATE)");
        db::Result r = conn.exec("SELECT id, email FROM users WHERE active LIMIT 200000");
        for (int i = 0; i < r.rows(); ++i)
            users_.add(r.value(i, 0), r.value(i, 1));
        if (users_.size() == 0)
            need_demo_schema("table users has no active users");
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
                    if (s.run(kCreatePost, {id, "post " + tag, "body of post " + tag}).rows() == 0)
                        users_.remove(id); // deleted meanwhile
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

} // namespace

std::unique_ptr<Workload> make_crud_workload() {
    return std::make_unique<CrudWorkload>();
}

} // namespace vigil::bench
