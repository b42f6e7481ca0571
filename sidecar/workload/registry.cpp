// registry.cpp — the workloads by name, and the checks they share: the demo schema, and the
// table and columns of a point read.
#include "workload/workloads.hpp"

namespace vigil::bench {

namespace {

const pool::Statement kReadUser{
    "vigil_bench_read_user", "SELECT id, email, username, full_name, age, active FROM users WHERE id = $1"};

} // namespace

void need_demo_schema(const std::string &what) {
    throw WorkloadError(WorkloadError::Kind::demo_schema, what);
}

PointRead point_read(db::Connection &conn, const std::string &table,
                     const std::vector<std::string> &columns) {
    if (table == "users" && columns.empty()) {
        if (conn.scalar("SELECT to_regclass('users') IS NOT NULL") != "t")
            need_demo_schema("table users does not exist");
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
        throw WorkloadError(WorkloadError::Kind::table, "no table named '" + table + "'");
    const std::string name = r.value(0, 0);
    if (r.is_null(0, 1) || r.value(0, 2) != "1")
        throw WorkloadError(WorkloadError::Kind::table,
                            name + " needs a primary key of one column for point reads");
    const std::string key = r.value(0, 1);
    std::string select_list;
    for (const std::string &column : columns) {
        db::Result a =
            conn.exec_params("SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = $1::regclass "
                             "AND attname = $2 AND attnum > 0 AND NOT attisdropped",
                             {name, column});
        if (a.rows() == 0)
            throw WorkloadError(WorkloadError::Kind::columns, name + " has no column '" + column + "'");
        select_list += (select_list.empty() ? "" : ", ") + a.value(0, 0);
    }
    if (select_list.empty())
        select_list = "*";
    return PointRead{pool::Statement{"vigil_bench_read_row",
                                     "SELECT " + select_list + " FROM " + name + " WHERE " + key + " = $1"},
                     name, key};
}

std::unique_ptr<Workload> make_workload(const std::string &name, const Options &options) {
    if (name == "read")
        return make_read_workload(options.pipeline, options.table, options.columns);
    if (name == "transfer")
        return make_transfer_workload();
    if (name == "crud")
        return make_crud_workload();
    if (name == "feed")
        return make_feed_workload();
    if (name == "mixed")
        return make_mixed_workload(options);
    throw WorkloadError(WorkloadError::Kind::unknown_workload,
                        "unknown workload '" + name + "' (use read, crud, feed, transfer or mixed)");
}

} // namespace vigil::bench
