// console.cpp — the console's routes: pages from the snapshot, static files, the security
// headers, [web] auth and the actions (confirmation page, then a POST with the admin token and
// a CSRF token bound to that one action).
#include "console/console.hpp"

#include <map>
#include <mutex>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "console/drilldown.hpp"
#include "console/format.hpp"
#include "console/pages.hpp"
#include "console/security.hpp"
#include "console/view.hpp"
#include "wall_clock.hpp"

namespace vigil::console {

namespace {

struct PageSpec {
    const char *path, *tmpl, *label;
    Data (*build)(const PageInput &);
    bool in_nav;
    bool per_snapshot; // from the snapshot alone: rendered once per snapshot and query string
    // A drill-down page is kept this long (0: never), so reloads and many viewers cost the
    // database one query, and the console's own statements do not crowd pg_stat_statements.
    double ttl_seconds;
};

const std::vector<PageSpec> &page_specs() {
    static const std::vector<PageSpec> specs = {
        {"/", "overview", "Overview", overview_page, true, true, 0},
        {"/checks", "checks", "Checks", checks_page, true, true, 0},
        {"/queries", "queries", "Queries", queries_page, true, true, 0},
        {"/query", "statement", "Statement", statement_page, false, false, 10},
        {"/locks", "locks", "Locks", locks_page, true, false, 0}, // live: the tree of this moment
        {"/space", "space", "Space and bloat", space_page, true, false, 60},
        {"/pool", "pool", "Pool", pool_page, true, false, 60},
        {"/replication", "replication", "Replication", replication_page, true, true, 0},
        {"/backups", "backups", "Backups", backups_page, true, false, 0},
        {"/activity", "activity", "Activity", activity_page, true, false, 5},
    };
    return specs;
}

std::map<std::string, std::string> params_of(const httplib::Request &req) {
    std::map<std::string, std::string> p;
    for (const auto &[k, v] : req.params)
        p.emplace(k, v); // the first of repeated keys
    return p;
}

std::string query_key(const std::map<std::string, std::string> &params) {
    std::string key;
    for (const auto &[k, v] : params)
        key += url_encode(k) + "=" + url_encode(v) + "&";
    return key;
}

} // namespace

struct Console::Impl {
    fleet::FleetAccess fleet;
    HistoryView history;
    ServeHooks hooks;
    ConsoleOptions options;
    Authenticator auth;
    std::string admin_token; // empty: actions off
    CsrfSigner csrf;
    std::mutex cache_mutex;
    std::mutex render_mutex; // held while a cached page is rendered
    // A page is shared, not copied, under cache_mutex: each response copies it outside the lock.
    using Body = std::shared_ptr<const std::string>;
    struct Cached {
        std::shared_ptr<const fleet::FleetSnapshot> snapshot;
        double made = 0;
        Body body;
    };
    std::map<std::string, Cached> cache;

    Impl(fleet::FleetAccess f, HistoryView h, ServeHooks k, ConsoleOptions o)
        : fleet(std::move(f)), history(std::move(h)), hooks(std::move(k)), options(std::move(o)),
          auth(options.web) {
        if (!options.web.admin_token_file.empty())
            admin_token = read_secret_file(options.web.admin_token_file, "web.admin_token_file");
    }

    bool actions_enabled() const { return !admin_token.empty(); }

    std::shared_ptr<const fleet::FleetSnapshot> snapshot() const {
        auto s = fleet.snapshot ? fleet.snapshot() : nullptr;
        return s ? s : std::make_shared<const fleet::FleetSnapshot>();
    }

    // The layout's data around a page.
    void frame(Data &data, const std::string &current, const std::string &title,
               const fleet::FleetSnapshot &f, double now) const {
        Data nav = make_list();
        for (const PageSpec &p : page_specs()) {
            if (!p.in_nav)
                continue;
            Data n;
            n.set("href", p.path);
            n.set("label", p.label);
            n.set("current", current == p.path);
            nav.push_back(n);
        }
        data.set("nav", nav);
        data.set("title", title);
        data.set("generated", format_time(now));
        data.set("snapshot_age",
                 f.timestamp > 0 ? format_age(now, f.timestamp) : std::string("no snapshot yet"));
        data.set("actions_enabled", actions_enabled());
    }

    PageInput input(const fleet::FleetSnapshot &f, const std::map<std::string, std::string> &params,
                    double now) const {
        return PageInput{f, params, now, history, hooks, options, actions_enabled(), fleet.dsn};
    }

    Body page(const PageSpec &spec, const httplib::Request &req) {
        const auto snap = snapshot();
        const auto params = params_of(req);
        const std::string key = std::string(spec.path) + "?" + query_key(params);
        const double now = now_epoch();
        const bool cached = spec.per_snapshot || spec.ttl_seconds > 0;
        // The page made of this snapshot (or within its ttl); else nullopt, and `stale` gets the
        // one made before, if any.
        auto lookup = [&](Body *stale = nullptr) -> Body {
            std::lock_guard<std::mutex> lock(cache_mutex);
            auto it = cache.find(key);
            if (it == cache.end())
                return nullptr;
            if (spec.per_snapshot ? it->second.snapshot == snap : now - it->second.made < spec.ttl_seconds)
                return it->second.body;
            if (stale)
                *stale = it->second.body;
            return nullptr;
        };
        std::unique_lock<std::mutex> rendering(render_mutex, std::defer_lock);
        if (cached) {
            Body stale;
            if (auto body = lookup(&stale))
                return body;
            // One render per miss: the clients that missed together do not each render the same
            // page (a new snapshot meets many clients at once). While one renders, the others get
            // the page of the snapshot before, when there is one, rather than wait: with a fleet a
            // poll ends, and the snapshot changes, several times a second.
            if (!rendering.try_lock()) {
                if (stale)
                    return stale;
                rendering.lock();
            }
            if (auto body = lookup())
                return body;
        }
        Data data = spec.build(input(*snap, params, now));
        frame(data, spec.path, spec.label, *snap, now);
        data.set("refresh", spec.per_snapshot);
        auto body = std::make_shared<const std::string>(render_page(spec.tmpl, data));
        if (cached) {
            std::lock_guard<std::mutex> lock(cache_mutex);
            if (cache.size() > 256) // query strings are the client's: bound what they can make us keep
                cache.clear();
            cache[key] = Cached{snap, now, body};
        }
        return body;
    }

    // The one string a CSRF token is bound to.
    static std::string action_key(const std::map<std::string, std::string> &p) {
        auto get = [&](const char *k) {
            auto it = p.find(k);
            return it == p.end() ? std::string() : it->second;
        };
        return get("kind") + "\n" + get("target") + "\n" + get("database") + "\n" + get("pid") + "\n" +
               get("min_blocking");
    }

    std::string message_page(const std::string &title, const std::string &text, bool error) {
        const auto snap = snapshot();
        Data data;
        data.set("heading", title);
        data.set("text", text);
        data.set("error", error);
        frame(data, "", title, *snap, now_epoch());
        return render_page("message", data);
    }

    void confirm(const httplib::Request &req, httplib::Response &res);
    void run_action(const httplib::Request &req, httplib::Response &res);
};

namespace {

const char *kKinds[] = {"cancel", "terminate", "terminate_blockers", "verify"};

bool known_kind(const std::string &k) {
    for (const char *x : kKinds)
        if (k == x)
            return true;
    return false;
}

std::string describe(const std::map<std::string, std::string> &p) {
    const auto get = [&](const char *k) { return p.count(k) ? p.at(k) : std::string(); };
    const std::string where = "on " + get("target") + " / " + get("database");
    if (get("kind") == "cancel")
        return "Cancel the running query of backend " + get("pid") + " " + where + " (pg_cancel_backend).";
    if (get("kind") == "terminate")
        return "Terminate backend " + get("pid") + " " + where +
               " (pg_terminate_backend): its transaction rolls back.";
    if (get("kind") == "terminate_blockers")
        return "Terminate the root blockers " + where + " that have kept others waiting longer than " +
               get("min_blocking") + " s and are idle in transaction (vigil.terminate_blockers).";
    return "Run the backup verification now (restore the newest backup into a scratch database and check "
           "it).";
}

double min_blocking_seconds(const std::map<std::string, std::string> &p) {
    try {
        return p.count("min_blocking") ? std::max(0.0, std::stod(p.at("min_blocking"))) : 60;
    } catch (const std::exception &) {
        return 60;
    }
}

} // namespace

void Console::Impl::confirm(const httplib::Request &req, httplib::Response &res) {
    auto params = params_of(req);
    if (!actions_enabled()) {
        res.status = 403;
        res.set_content(message_page("Actions are off", "Set [web] admin_token_file to enable them.", true),
                        "text/html; charset=utf-8");
        return;
    }
    if (!known_kind(params["kind"])) {
        res.status = 400;
        res.set_content(message_page("Unknown action", "No such action.", true), "text/html; charset=utf-8");
        return;
    }
    if (params["kind"] == "terminate_blockers")
        params["min_blocking"] = format_number(min_blocking_seconds(params));
    const double now = now_epoch();
    const auto snap = snapshot();
    Data data;
    data.set("description", describe(params));
    Data fields = make_list();
    for (const char *k : {"kind", "target", "database", "pid", "min_blocking"}) {
        if (!params.count(k))
            continue;
        Data f;
        f.set("name", k);
        f.set("value", params[k]);
        fields.push_back(f);
    }
    data.set("fields", fields);
    data.set("csrf", csrf.issue(action_key(params), now));
    data.set("is_blockers", params["kind"] == "terminate_blockers");
    data.set("min_blocking", params["min_blocking"]);
    data.set("target", params["target"]);
    data.set("database", params["database"]);
    // What would happen, first: the dry run of terminate_blockers, or the session to signal.
    if (params["kind"] != "verify") {
        Data rows = make_list();
        std::string error;
        const auto dsn = fleet.dsn ? fleet.dsn(params["target"], params["database"]) : std::nullopt;
        try {
            if (!dsn)
                throw std::runtime_error("unknown target or database");
            Drilldown d(*dsn, options.drilldown_timeout_seconds);
            const auto result =
                params["kind"] == "terminate_blockers"
                    ? d.query("SELECT pid, action, reason FROM vigil.terminate_blockers("
                              "make_interval(secs => $1::float8), true, true)",
                              {params["min_blocking"]})
                    : d.query("SELECT pid, state AS action, left(query, 500) AS reason FROM pg_stat_activity"
                              " WHERE pid = $1::int",
                              {params["pid"]});
            for (const Row &r : result) {
                Data row;
                row.set("pid", r.text("pid"));
                row.set("action", r.text("action"));
                row.set("reason", r.text("reason"));
                rows.push_back(row);
            }
            data.set("nothing", result.empty());
        } catch (const std::exception &e) {
            error = e.what();
        }
        data.set("preview", rows);
        data.set("has_preview_rows", rows.is_non_empty_list());
        data.set("has_preview", true);
        data.set("preview_error", error);
    }
    frame(data, "", "Confirm", *snap, now);
    res.set_content(render_page("confirm", data), "text/html; charset=utf-8");
}

void Console::Impl::run_action(const httplib::Request &req, httplib::Response &res) {
    const auto params = params_of(req);
    const std::string who = auth.check(req.get_header_value("Authorization")) + "@" + req.remote_addr;
    const std::string what = params.count("kind") ? params.at("kind") : "?";
    auto refuse = [&](int status, const std::string &why) {
        spdlog::warn("console action {} by {} refused: {}", what, who, why);
        res.status = status;
        res.set_content(message_page("Refused", why, true), "text/html; charset=utf-8");
    };
    if (!actions_enabled())
        return refuse(403, "actions are off: set [web] admin_token_file to enable them");
    const auto token = params.find("admin_token");
    if (token == params.end() || !constant_time_equal(token->second, admin_token))
        return refuse(403, "the admin token is missing or wrong");
    const auto csrf_token = params.find("csrf");
    if (csrf_token == params.end() || !csrf.verify(action_key(params), csrf_token->second, now_epoch()))
        return refuse(
            403, "the form's CSRF token is missing, expired or for another action: confirm the action again");
    if (!known_kind(what))
        return refuse(400, "no such action");
    std::string outcome;
    bool ok = true;
    try {
        if (what == "verify") {
            ok = hooks.verify_now && hooks.verify_now();
            outcome = ok ? "backup verification started; its steps appear on Backups when it ends"
                         : "no backup verification could be started (is [backup] directory set?)";
        } else {
            const auto dsn = fleet.dsn ? fleet.dsn(params.at("target"), params.at("database")) : std::nullopt;
            if (!dsn)
                throw std::runtime_error("unknown target or database");
            Drilldown d(*dsn, options.drilldown_timeout_seconds);
            if (what == "terminate_blockers") {
                const auto rows = d.query("SELECT pid, action, reason FROM vigil.terminate_blockers("
                                          "make_interval(secs => $1::float8), true, false)",
                                          {params.at("min_blocking")});
                outcome = rows.empty() ? "no root blocker matched" : "";
                for (const Row &r : rows)
                    outcome += (outcome.empty() ? "" : "; ") + std::string("pid ") + r.text("pid") + ": " +
                               r.text("action");
            } else {
                const char *fn = what == "cancel" ? "pg_cancel_backend" : "pg_terminate_backend";
                const auto rows =
                    d.query(std::string("SELECT ") + fn + "($1::int) AS ok", {params.at("pid")});
                ok = !rows.empty() && rows[0].text("ok") == "t";
                outcome = std::string(fn) + "(" + params.at("pid") + ") " +
                          (ok ? "signalled the backend" : "found no such backend");
            }
        }
    } catch (const std::exception &e) {
        ok = false;
        outcome = std::string("failed: ") + e.what();
    }
    spdlog::warn("console action {} by {} on {}/{} pid {}: {}", what, who,
                 params.count("target") ? params.at("target") : "",
                 params.count("database") ? params.at("database") : "",
                 params.count("pid") ? params.at("pid") : "", outcome);
    res.set_content(message_page(ok ? "Done" : "Failed", outcome, !ok), "text/html; charset=utf-8");
}

Console::Console(fleet::FleetAccess fleet, HistoryView history, ServeHooks hooks, ConsoleOptions options)
    : impl_(std::make_shared<Impl>(std::move(fleet), std::move(history), std::move(hooks),
                                   std::move(options))) {}

Console::~Console() = default;

void Console::mount(httplib::Server &server) {
    auto impl = impl_; // the routes keep the console alive as long as the server
    server.set_post_routing_handler([](const httplib::Request &, httplib::Response &res) {
        for (const auto &[name, value] : security_headers())
            if (!res.has_header(name.c_str()))
                res.set_header(name.c_str(), value);
    });
    if (impl->auth.required())
        server.set_pre_routing_handler([impl](const httplib::Request &req, httplib::Response &res) {
            if (!impl->auth.check(req.get_header_value("Authorization")).empty())
                return httplib::Server::HandlerResponse::Unhandled;
            res.status = 401;
            if (impl->auth.scheme() == "basic")
                res.set_header("WWW-Authenticate", "Basic realm=\"vigild\", charset=\"UTF-8\"");
            else
                res.set_header("WWW-Authenticate", "Bearer realm=\"vigild\"");
            res.set_content("authentication required\n", "text/plain");
            return httplib::Server::HandlerResponse::Handled;
        });
    for (const PageSpec &spec : page_specs())
        server.Get(spec.path, [impl, &spec](const httplib::Request &req, httplib::Response &res) {
            try {
                res.set_content(*impl->page(spec, req), "text/html; charset=utf-8");
            } catch (const std::exception &e) {
                spdlog::error("console {}: {}", spec.path, e.what());
                res.status = 500;
                res.set_content("the page failed; vigild's log says why\n", "text/plain");
            }
        });
    static const std::vector<std::pair<std::string, std::string>> statics = {
        {"console.css", "text/css; charset=utf-8"},
        {"console.js", "text/javascript; charset=utf-8"},
        {"icon.svg", "image/svg+xml"},
    };
    for (const auto &[name, type] : statics) {
        const auto text = asset(name);
        if (!text)
            continue;
        const std::string body(*text), content_type = type;
        server.Get("/static/" + name, [body, content_type](const httplib::Request &, httplib::Response &res) {
            res.set_header("Cache-Control", "max-age=3600");
            res.set_content(body, content_type.c_str());
        });
        if (name == "icon.svg")
            server.Get("/favicon.ico", [body](const httplib::Request &, httplib::Response &res) {
                res.set_content(body, "image/svg+xml");
            });
    }
    server.Get("/actions/confirm",
               [impl](const httplib::Request &req, httplib::Response &res) { impl->confirm(req, res); });
    server.Post("/actions/run",
                [impl](const httplib::Request &req, httplib::Response &res) { impl->run_action(req, res); });
}

} // namespace vigil::console
