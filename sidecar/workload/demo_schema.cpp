// demo_schema.cpp — `vigild init-schema`'s DDL and seed data.
#include "workload/demo_schema.hpp"

namespace vigil {

namespace {

// Tables, indexes and the updated_at trigger; every statement is safe to run again.
constexpr const char *kDdl = R"sql(
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgvigil;

CREATE TABLE IF NOT EXISTS users (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email      text NOT NULL UNIQUE,
    username   text NOT NULL,
    full_name  text NOT NULL DEFAULT '',
    bio        text NOT NULL DEFAULT '',
    age        integer CHECK (age BETWEEN 13 AND 120),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS posts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      text NOT NULL,
    body       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS posts_user_id_created_at_idx ON posts (user_id, created_at DESC);

CREATE TABLE IF NOT EXISTS accounts (
    id      bigint PRIMARY KEY,
    owner   text NOT NULL,
    balance bigint NOT NULL CHECK (balance >= 0)
);

CREATE TABLE IF NOT EXISTS transfers (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_id    bigint NOT NULL REFERENCES accounts (id),
    to_id      bigint NOT NULL REFERENCES accounts (id),
    amount     bigint NOT NULL CHECK (amount > 0),
    request_id text NOT NULL UNIQUE, -- the client's id for the transfer: a retried commit is not a second transfer
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER users_touch_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
)sql";

// The feed's index (crud's feed op, the feed workload): the newest posts, read from its start.
constexpr const char *kFeedIndex =
    "CREATE INDEX IF NOT EXISTS posts_created_at_idx ON posts (created_at DESC)";
// Without it the feed scans and sorts every post. The index vigil.index_advice() proposes for
// the feed, CREATE INDEX CONCURRENTLY ON public.posts (created_at), gets the same name, so
// dropping it starts the scenario over without seeding again.
constexpr const char *kDropFeedIndex = "DROP INDEX IF EXISTS posts_created_at_idx";

bool table_exists(db::Connection &conn, const char *name) {
    return conn.scalar("SELECT to_regclass($1) IS NOT NULL", {std::string(name)}) == "t";
}

// True when the table has a version column (vigil.enable_versioning added it, or it was there).
bool has_version_column(db::Connection &conn, const char *table) {
    return conn.scalar(
               "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'version'"
               " AND NOT attisdropped",
               {std::string(table)}) == "1";
}

} // namespace

SchemaReport init_schema(db::Connection &conn, const SchemaOptions &o) {
    SchemaReport report;
    conn.exec("BEGIN");
    try {
        // Two init-schema runs at once must not both create: serialize them.
        conn.exec("SELECT pg_advisory_xact_lock(hashtext('vigild init-schema'))");
        if (o.reset)
            conn.exec("DROP TABLE IF EXISTS transfers, accounts, posts, users CASCADE");
        report.created_users = !table_exists(conn, "users");
        report.created_accounts = !table_exists(conn, "accounts");
        conn.exec(kDdl);
        conn.exec(o.feed_index ? kFeedIndex : kDropFeedIndex);
        // Lost-update protection: optimistic_update (crud) and the trigger (transfer) use `version`.
        for (const char *table : {"users", "accounts"})
            if (!has_version_column(conn, table))
                conn.exec_params("SELECT vigil.enable_versioning($1::regclass)", {std::string(table)});
        if (conn.scalar("SELECT count(*) FROM users") == "0" && o.users > 0) {
            conn.exec_params("INSERT INTO users (email, username, full_name, bio, age)"
                             " SELECT 'user' || i || '@example.com', 'user' || i, 'User Number ' || i,"
                             "        repeat('bio ', 1 + (i % 20)::int), 13 + (i % 100)::int"
                             " FROM generate_series(1, $1::bigint) AS i",
                             {std::to_string(o.users)});
            if (o.posts_per_user > 0)
                conn.exec_params("INSERT INTO posts (user_id, title, body, created_at)"
                                 " SELECT u.id, 'post ' || p || ' by ' || u.username, 'text of the post',"
                                 "        now() - (random() * interval '30 days')"
                                 " FROM users u, generate_series(1, $1::bigint) AS p",
                                 {std::to_string(o.posts_per_user)});
        }
        if (conn.scalar("SELECT count(*) FROM accounts") == "0" && o.accounts > 0)
            conn.exec_params("INSERT INTO accounts (id, owner, balance)"
                             " SELECT i, 'owner ' || i, $2::bigint FROM generate_series(1, $1::bigint) AS i",
                             {std::to_string(o.accounts), std::to_string(o.initial_balance)});
        db::Result r = conn.exec(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM posts),"
            "       (SELECT count(*) FROM accounts), (SELECT coalesce(sum(balance), 0) FROM accounts)");
        report.users = std::stol(r.value(0, 0));
        report.posts = std::stol(r.value(0, 1));
        report.accounts = std::stol(r.value(0, 2));
        report.total_balance = std::stoll(r.value(0, 3));
        report.feed_index = conn.scalar("SELECT to_regclass('posts_created_at_idx') IS NOT NULL") == "t";
        conn.exec("COMMIT");
    } catch (...) {
        db::Result(PQexec(conn.get(), "ROLLBACK")); // best effort: the error that got us here matters
        throw;
    }
    conn.exec("ANALYZE users, posts, accounts, transfers");
    return report;
}

} // namespace vigil
