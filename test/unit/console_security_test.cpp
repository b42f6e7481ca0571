// The console's security model against its real HTTP server: the headers on every response,
// [web] auth, actions only by POST with the admin token and a CSRF token bound to the confirmed
// action, hostile names escaped on every page, no connection-string password anywhere.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "console/console.hpp"
#include "console/pages.hpp"
#include "console/security.hpp"

using namespace vigil;
using namespace vigil::console;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

const std::string kHostile = "<img src=x onerror=alert(1)> \"q\" 'x'\n\u202egnp.exe";
const char *kPages[] = {"/",     "/checks",      "/queries", "/locks",   "/space",
                        "/pool", "/replication", "/backups", "/activity"};

std::shared_ptr<const fleet::FleetSnapshot> hostile_fleet() {
    auto h = std::make_shared<HealthSnapshot>();
    h->polled = h->up = true;
    h->database = kHostile;
    h->health_checks_available = true;
    h->checks.push_back({kHostile, "warning", 1, "<b>1</b>", "'0'", kHostile, "<script>alert(1)</script>"});
    h->connections[kHostile] = 3;
    h->lock_waiters = 1;
    h->replication.push_back({kHostile, "10.0.0.1", 2.5});
    h->statements =
        std::vector<StatRow>{{{{"queryid", "42"}, {"query", kHostile}}, {{"calls", 2}, {"seconds", 1}}}};
    h->tables = std::vector<StatRow>{{{{"schema", kHostile}, {"table", kHostile}}, {{"size_bytes", 8192}}}};
    h->replication_slots =
        std::vector<StatRow>{{{{"slot", kHostile}, {"slot_type", "physical"}}, {{"active", 0}}}};
    h->newest_backup = kHostile;
    h->newest_backup_timestamp = 1;
    auto f = std::make_shared<fleet::FleetSnapshot>();
    f->timestamp = 1;
    fleet::TargetState t;
    t.name = kHostile;
    t.up = true;
    t.role = fleet::Role::primary;
    t.databases.push_back({kHostile, h});
    f->targets.push_back(t);
    fleet::TargetState down;
    down.name = "down <i>target</i>";
    down.error = "connection refused <u>";
    f->targets.push_back(down);
    return f;
}

std::string temp_file(const std::string &text) {
    char name[] = "/tmp/console_test_XXXXXX";
    const int fd = mkstemp(name);
    close(fd);
    std::ofstream(name) << text;
    return name;
}

// A real httplib server with the console mounted, on a free loopback port.
class ConsoleServer {
  public:
    explicit ConsoleServer(WebConfig web) {
        fleet::FleetAccess access;
        const auto f = hostile_fleet();
        access.snapshot = [f] { return f; };
        // A drill-down connects nowhere (port 1 refuses) and carries a password that must never show.
        access.dsn = [](const std::string &, const std::string &) -> std::optional<std::string> {
            return std::string("host=127.0.0.1 port=1 user=u password=hunter2secret dbname=x");
        };
        ServeHooks hooks;
        hooks.verify_now = [this] { return ++verifications, true; };
        hooks.verify_status = [] {
            VerifyStatus s;
            s.ran = true;
            s.target = kHostile;
            s.steps[kHostile] = "pass";
            return s;
        };
        console_ = std::make_unique<Console>(access, HistoryView{}, hooks, ConsoleOptions{web, 1});
        console_->mount(server_);
        server_.Get("/metrics", [](const httplib::Request &, httplib::Response &res) {
            res.set_content("vigil_up 1\n", "text/plain");
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        while (!server_.is_running())
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ~ConsoleServer() {
        server_.stop();
        thread_.join();
    }
    httplib::Client client() const { return httplib::Client("127.0.0.1", port_); }
    std::atomic<int> verifications{0};

  private:
    httplib::Server server_;
    std::unique_ptr<Console> console_;
    int port_ = 0;
    std::thread thread_;
};

void expect_security_headers(const httplib::Result &r, const std::string &what) {
    ASSERT_TRUE(r) << what;
    EXPECT_THAT(r->get_header_value("Content-Security-Policy"), HasSubstr("default-src 'none'")) << what;
    EXPECT_THAT(r->get_header_value("Content-Security-Policy"), HasSubstr("frame-ancestors 'none'")) << what;
    EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff") << what;
    EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY") << what;
}

std::string csrf_of(const std::string &html) {
    std::smatch m;
    return std::regex_search(html, m, std::regex("name=\"csrf\" value=\"([^\"]+)\"")) ? m[1].str() : "";
}

} // namespace

TEST(ConsoleSecurity, EveryResponseCarriesTheHeaders) {
    ConsoleServer s(WebConfig{});
    auto c = s.client();
    for (const char *p : kPages) {
        const auto r = c.Get(p);
        expect_security_headers(r, p);
        EXPECT_EQ(r->status, 200) << p;
        EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("text/html")) << p;
    }
    expect_security_headers(c.Get("/metrics"), "/metrics");
    expect_security_headers(c.Get("/static/console.css"), "css");
    expect_security_headers(c.Get("/no/such/page"), "404");
}

TEST(ConsoleSecurity, HostileNamesRenderAsTextAndNoPasswordShows) {
    ConsoleServer s(WebConfig{});
    auto c = s.client();
    std::vector<std::string> paths(std::begin(kPages), std::end(kPages));
    paths.push_back(page_link("/query", kHostile, kHostile, "&queryid=42"));
    for (const std::string &p : paths) {
        const auto r = c.Get(p);
        ASSERT_TRUE(r);
        EXPECT_THAT(r->body, Not(HasSubstr("<img"))) << p;
        EXPECT_THAT(r->body, Not(HasSubstr("<script>"))) << p;
        EXPECT_THAT(r->body, Not(HasSubstr("<b>1"))) << p;
        EXPECT_THAT(r->body, Not(HasSubstr("<i>target"))) << p;
        EXPECT_THAT(r->body, Not(HasSubstr("hunter2secret"))) << p;
        EXPECT_THAT(r->body, HasSubstr("&lt;img src=x onerror=alert(1)&gt;")) << p;
        EXPECT_LT(r->body.size(), 200u * 1024) << p;
    }
    EXPECT_THAT(c.Get("/checks")->body, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

TEST(ConsoleSecurity, ActionsAreOffWithoutAnAdminTokenFile) {
    ConsoleServer s(WebConfig{});
    auto c = s.client();
    EXPECT_EQ(c.Get("/actions/confirm?kind=verify")->status, 403);
    EXPECT_EQ(
        c.Post("/actions/run", "kind=verify&admin_token=&csrf=", "application/x-www-form-urlencoded")->status,
        403);
    EXPECT_EQ(s.verifications, 0);
}

TEST(ConsoleSecurity, AnActionNeedsTheAdminTokenAndACsrfTokenForThatAction) {
    WebConfig web;
    web.admin_token_file = temp_file("s3cret-token\n");
    ConsoleServer s(web);
    auto c = s.client();
    const auto confirm = c.Get("/actions/confirm?kind=verify");
    ASSERT_EQ(confirm->status, 200);
    const std::string token = csrf_of(confirm->body);
    ASSERT_FALSE(token.empty());
    EXPECT_THAT(confirm->body, Not(HasSubstr("s3cret-token")));
    const auto post = [&](const std::string &body) {
        return c.Post("/actions/run", body, "application/x-www-form-urlencoded")->status;
    };
    EXPECT_EQ(post("kind=verify&csrf=" + token), 403);                                // no admin token
    EXPECT_EQ(post("kind=verify&admin_token=wrong&csrf=" + token), 403);              // wrong admin token
    EXPECT_EQ(post("kind=verify&admin_token=s3cret-token"), 403);                     // no CSRF token
    EXPECT_EQ(post("kind=verify&admin_token=s3cret-token&csrf=1.abc"), 403);          // forged
    EXPECT_EQ(post("kind=cancel&pid=1&admin_token=s3cret-token&csrf=" + token), 403); // another action
    EXPECT_EQ(c.Get("/actions/run?kind=verify&admin_token=s3cret-token&csrf=" + token)->status, 404);
    EXPECT_EQ(s.verifications, 0);
    EXPECT_EQ(post("kind=verify&admin_token=s3cret-token&csrf=" + token), 200);
    EXPECT_EQ(s.verifications, 1);
    std::remove(web.admin_token_file.c_str());
}

TEST(ConsoleSecurity, BearerAndBasicAuthGuardEveryPath) {
    WebConfig bearer;
    bearer.auth = "bearer";
    bearer.auth_file = temp_file("tok-123\n");
    {
        ConsoleServer s(bearer);
        auto c = s.client();
        EXPECT_EQ(c.Get("/")->status, 401);
        EXPECT_EQ(c.Get("/metrics")->status, 401);
        EXPECT_EQ(c.Get("/", {{"Authorization", "Bearer tok-12"}})->status, 401);
        EXPECT_EQ(c.Get("/", {{"Authorization", "Bearer tok-123"}})->status, 200);
    }
    WebConfig basic;
    basic.auth = "basic";
    basic.auth_file = temp_file("# users\nalice:pw1\nbob:pw:2\n");
    {
        ConsoleServer s(basic);
        auto c = s.client();
        EXPECT_EQ(c.Get("/checks")->status, 401);
        c.set_basic_auth("alice", "pw1");
        EXPECT_EQ(c.Get("/checks")->status, 200);
        c.set_basic_auth("bob", "pw:2");
        EXPECT_EQ(c.Get("/checks")->status, 200);
        c.set_basic_auth("alice", "pw2");
        EXPECT_EQ(c.Get("/checks")->status, 401);
    }
    std::remove(bearer.auth_file.c_str());
    std::remove(basic.auth_file.c_str());
}

TEST(ConsoleSecurity, ListeningOffLoopbackNeedsAuth) {
    WebConfig none;
    EXPECT_NO_THROW(check_exposure("127.0.0.1:9187", none));
    EXPECT_NO_THROW(check_exposure("[::1]:9187", none));
    EXPECT_NO_THROW(check_exposure("localhost:9187", none));
    try {
        check_exposure("0.0.0.0:9187", none);
        ADD_FAILURE() << "0.0.0.0 without auth was accepted";
    } catch (const std::invalid_argument &e) {
        EXPECT_THAT(e.what(), HasSubstr("[web] auth"));
    }
    EXPECT_THROW(check_exposure("10.1.2.3:9187", none), std::invalid_argument);
    WebConfig auth;
    auth.auth = "bearer";
    auth.auth_file = "/etc/vigild/token";
    EXPECT_NO_THROW(check_exposure("0.0.0.0:9187", auth));
    auth.auth_file.clear();
    EXPECT_THROW(check_exposure("127.0.0.1:9187", auth), std::invalid_argument);
    WebConfig off;
    off.console = false;
    EXPECT_NO_THROW(check_exposure("0.0.0.0:9187", off)); // /metrics alone, as before the console
}

TEST(ConsoleSecurity, CsrfTokensAreBoundToOneActionAndExpire) {
    CsrfSigner a, b;
    const std::string t = a.issue("cancel\nt\nd\n42\n", 1000);
    EXPECT_TRUE(a.verify("cancel\nt\nd\n42\n", t, 1000));
    EXPECT_TRUE(a.verify("cancel\nt\nd\n42\n", t, 1000 + CsrfSigner::kLifetimeSeconds - 1));
    EXPECT_FALSE(a.verify("cancel\nt\nd\n42\n", t, 1000 + CsrfSigner::kLifetimeSeconds + 1));
    EXPECT_FALSE(a.verify("cancel\nt\nd\n43\n", t, 1000));
    EXPECT_FALSE(b.verify("cancel\nt\nd\n42\n", t, 1000)); // another process's key
    std::string tampered = t;
    tampered.back() = tampered.back() == '0' ? '1' : '0';
    EXPECT_FALSE(a.verify("cancel\nt\nd\n42\n", tampered, 1000));
    EXPECT_FALSE(a.verify("cancel\nt\nd\n42\n", "", 1000));
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_FALSE(constant_time_equal("abc", "abd"));
    EXPECT_FALSE(constant_time_equal("abc", "abcd"));
}
