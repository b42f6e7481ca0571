#!/usr/bin/python3
"""console_test.py — the console in a real browser: a real `vigild serve` against a real cluster
(with a streaming standby), pages loaded by chromium through selenium, after the test provokes
what each page must show. Prints TAP lines ("ok N - ...", "not ok N - ..."); exit status 1 when
any check failed. Run by test/browser/run.sh inside with_cluster.sh --preload.

Screenshots of every page, desktop and phone widths: build/console-screenshots/.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
VIGILD = os.environ.get("VIGILD", os.path.join(BUILD, "sidecar", "vigild"))
SHOTS = os.path.join(BUILD, "console-screenshots")
PG_BINDIR = os.environ["VIGIL_TEST_PG_BINDIR"]
PORT = os.environ["PGPORT"]
DB = "console_test"
DSN = f"host=127.0.0.1 port={PORT} user=postgres dbname={DB}"
HOSTILE = "<img src=x onerror=alert(1)> \"q\" 'x'\n\u202egnp.exe"
PAGES = ["/", "/checks", "/queries", "/locks", "/space", "/pool", "/replication", "/backups", "/activity"]

results = []
cleanups = []


def check(ok, name, detail=""):
    results.append(ok)
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {name}")
    if not ok and detail:
        for line in str(detail).splitlines()[:30]:
            print(f"#   {line}")
    sys.stdout.flush()
    return ok


def as_postgres(cmd, **kw):
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def psql(sql, db=DB, port=PORT):
    r = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port),
                        "-U", "postgres", "-d", db, "-c", sql], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"psql: {sql[:200]}: {r.stderr}")
    return r.stdout.strip()


class Session:
    """A psql session kept open: statements sent one by one, never waited for."""

    def __init__(self, application_name="console_test"):
        env = dict(os.environ, PGAPPNAME=application_name)
        self.proc = subprocess.Popen(["psql", "-X", "-At", "-q", "-h", "127.0.0.1", "-p", PORT, "-U", "postgres",
                                      "-d", DB], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        cleanups.append(self.close)

    def send(self, sql):
        self.proc.stdin.write(sql + "\n")
        self.proc.stdin.flush()

    def pid(self):
        self.send("SELECT 'pid=' || pg_backend_pid();")
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("psql session ended")
            if line.startswith("pid="):
                return int(line[4:])

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


def wait_for(what, fn, timeout=30):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 — retried until the deadline
            last = e
        time.sleep(0.3)
    raise RuntimeError(f"timed out waiting for {what}: {last!r}")


def start_standby(work):
    """A streaming standby of the test cluster whose replay is held back, so it has lag."""
    d = os.path.join(work, "standby")
    os.makedirs(d)
    if os.geteuid() == 0:
        shutil.chown(work, "postgres")
        shutil.chown(d, "postgres")
    as_postgres([os.path.join(PG_BINDIR, "pg_basebackup"), "-D", os.path.join(d, "data"), "-R", "-X", "stream",
                 "-h", "127.0.0.1", "-p", PORT, "-U", "postgres"])
    port = free_port()
    with open(os.path.join(d, "data", "postgresql.auto.conf"), "a") as f:
        f.write("primary_conninfo = 'host=127.0.0.1 port=%s user=postgres application_name=standby_one'\n" % PORT)
        f.write("recovery_min_apply_delay = '4s'\nunix_socket_directories = '%s'\n" % d)
    if os.geteuid() == 0:
        shutil.chown(os.path.join(d, "data", "postgresql.auto.conf"), "postgres")
    as_postgres([os.path.join(PG_BINDIR, "pg_ctl"), "-D", os.path.join(d, "data"), "-o", f"-p {port}", "-l",
                 os.path.join(d, "server.log"), "-w", "start"])
    cleanups.append(lambda: subprocess.run(
        (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) +
        [os.path.join(PG_BINDIR, "pg_ctl"), "-D", os.path.join(d, "data"), "-m", "immediate", "-w", "stop"],
        capture_output=True))
    return port


def browser(width, height):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
              "--disable-extensions", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--metrics-recording-only", "--no-default-browser-check",
              f"--window-size={width},{height}"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    drv.set_page_load_timeout(30)
    cleanups.append(drv.quit)
    return drv


def requested_urls(drv):
    urls = []
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def screenshot(drv, name, width):
    height = drv.execute_script("return Math.max(document.body.scrollHeight, 600)")
    drv.set_window_size(width, min(int(height) + 120, 6000))
    drv.save_screenshot(os.path.join(SHOTS, name))


def main():
    os.makedirs(SHOTS, exist_ok=True)
    work = tempfile.mkdtemp(prefix="console-test.", dir=BUILD)
    cleanups.append(lambda: shutil.rmtree(work, ignore_errors=True))

    psql(f"DROP DATABASE IF EXISTS {DB}", db="postgres")
    psql(f"CREATE DATABASE {DB}", db="postgres")
    psql("CREATE EXTENSION pgvigil; CREATE EXTENSION pg_stat_statements;")
    psql("ALTER SYSTEM SET vigil.idle_in_transaction_warning = '1s'", db="postgres")
    psql("SELECT pg_reload_conf()", db="postgres")
    quoted = '"' + HOSTILE.replace('"', '""') + '"'
    psql(f"CREATE TABLE accounts (id int PRIMARY KEY, balance int);"
         f"INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 1000) g;"
         f"CREATE TABLE {quoted} (id int PRIMARY KEY, note text);"
         f"INSERT INTO {quoted} SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g; ANALYZE;")
    standby_port = start_standby(work)

    admin_token = "console-test-token-" + str(os.getpid())
    with open(os.path.join(work, "admin_token"), "w") as f:
        f.write(admin_token + "\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    conf = os.path.join(work, "vigild.toml")
    with open(conf, "w") as f:
        f.write(f'[metrics]\nlisten = "127.0.0.1:{port}"\n[health]\ninterval = "1s"\n'
                f'[history]\npath = "{os.path.join(work, "history.sqlite3")}"\ninterval = "1s"\nslow_interval = "1s"\n'
                f'[web]\nadmin_token_file = "{os.path.join(work, "admin_token")}"\n')
    log = open(os.path.join(work, "vigild.log"), "w")
    serve = subprocess.Popen([VIGILD, "--dsn", DSN, "--config", conf, "--log-level", "info", "serve"],
                             stdout=log, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    if serve.poll() is not None:  # a vigild that refused its configuration is a failure, never skipped
        log.flush()
        with open(os.path.join(work, "vigild.log")) as f:
            raise RuntimeError(f"vigild serve exited {serve.returncode} at start: {f.read()[-1500:]}")

    def stop_serve():
        if serve.poll() is None:
            serve.terminate()
            try:
                serve.wait(20)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait()
    cleanups.append(stop_serve)
    wait_for("vigild serve", lambda: http(base + "/metrics")[0] == 200)

    # Provoke what the pages must show.
    idle = Session(application_name=HOSTILE.replace("\n", " "))
    idle.send("BEGIN; SELECT 1;")
    blocker = Session()
    blocker_pid = blocker.pid()
    blocker.send("BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id = 1;")
    waiter = Session()
    waiter_pid = waiter.pid()
    waiter.send("UPDATE accounts SET balance = 0 WHERE id = 1 /* blocked update */;")
    slow = Session()
    for _ in range(3):
        slow.send("SELECT pg_sleep(1.0) /* slow probe <b>bold</b> */;")
    for i in range(5):
        psql(f"INSERT INTO accounts VALUES ({2000 + i}, 1)")  # WAL for the standby to lag behind on
        time.sleep(0.2)

    def page(path):
        return http(base + path)[2]
    wait_for("idle_in_transaction warning on Checks",
             lambda: re.search(r'<tr class="(warning|critical)"><td><bdi>idle_in_transaction', page("/checks")), 30)
    wait_for("slow statement in the poll", lambda: "pg_sleep" in page("/queries"), 30)
    wait_for("standby in the poll", lambda: "standby_one" in page("/replication"), 30)

    # Headers, weight, JavaScript off (plain HTTP: no script runs).
    for path in PAGES + ["/query?target=default&database=" + DB + "&queryid=0", "/static/console.css",
                         "/static/console.js"]:
        status, headers, body = http(base + path)
        csp = headers.get("Content-Security-Policy", "")
        check(status == 200 and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
              and headers.get("X-Content-Type-Options") == "nosniff" and headers.get("X-Frame-Options") == "DENY",
              f"{path}: 200 with CSP, nosniff and frame protection", f"{status} {headers}")
        check(len(body.encode()) < 200 * 1024, f"{path}: weighs {len(body.encode())} bytes (< 200 KB)")
        if path in PAGES:
            check("<main>" in body and "</html>" in body and "password" not in body.lower(),
                  f"{path}: complete without JavaScript, no password on the page")
    status, headers, _ = http(base + "/metrics")
    check(status == 200 and "Content-Security-Policy" in headers, "/metrics still served, with the headers")

    desktop = browser(1280, 900)
    phone = browser(390, 844)
    for drv, kind, width in [(desktop, "desktop", 1280), (phone, "phone", 390)]:
        for path in PAGES:
            drv.set_window_size(width, 900)
            drv.get(base + path)
            name = "overview" if path == "/" else path.strip("/")
            errors = [e for e in drv.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
            check(not errors, f"{kind} {path}: no JavaScript error or warning", errors)
            foreign = [u for u in requested_urls(drv) if not u.startswith(base)]
            check(not foreign, f"{kind} {path}: requests only its own origin", foreign)
            check(not drv.find_elements(By.CSS_SELECTOR, "img, script:not([src='/static/console.js'])"),
                  f"{kind} {path}: no injected element")
            if kind == "phone":
                overflow = drv.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
                check(overflow <= 2, f"phone {path}: no sideways scrolling of the page ({overflow}px)")
            screenshot(drv, f"{name}-{kind}.png", width)

    d = desktop
    d.set_window_size(1280, 900)
    d.get(base + "/")
    check("default" in d.find_element(By.TAG_NAME, "main").text, "Overview names the target")
    summary = d.find_element(By.ID, "summary").text
    check("warning" in summary or "critical" in summary, "Overview says something is wrong", summary)
    check("idle_in_transaction" in d.find_element(By.TAG_NAME, "main").text,
          "Overview lists the idle-in-transaction check")

    d.get(base + "/checks")
    rows = [r for r in d.find_elements(By.CSS_SELECTOR, "table.checks tbody tr")
            if r.find_element(By.TAG_NAME, "td").text == "idle_in_transaction"]
    check(rows and rows[0].get_attribute("class") in ("warning", "critical")
          and "commits or rolls back promptly" in rows[0].text,
          "Checks: the session idle in transaction shows with its recommendation", [r.text for r in rows])

    d.get(base + "/locks")
    lock_rows = d.find_elements(By.CSS_SELECTOR, "table.locks tbody tr")
    texts = [r.text for r in lock_rows]
    root_index = next((i for i, t in enumerate(texts) if f"pid {blocker_pid}" in t), -1)
    check(root_index >= 0 and "root blocker" in texts[root_index], "Locks: the blocker is a root blocker", texts)
    check(root_index >= 0 and root_index + 1 < len(texts) and f"pid {waiter_pid}" in texts[root_index + 1]
          and "UPDATE accounts SET balance = 0" in texts[root_index + 1]
          and "depth-1" in lock_rows[root_index + 1].find_element(By.TAG_NAME, "td").get_attribute("class"),
          "Locks: the blocked UPDATE sits under its root blocker, with its wait", texts)

    d.get(base + "/queries")
    first = d.find_elements(By.CSS_SELECTOR, "table.queries tbody tr")
    check(first and "pg_sleep" in first[0].text, "Queries: the slow statement tops the list by total time",
          first[0].text if first else "no rows")
    check(first and "<b>bold</b>" in first[0].text, "Queries: statement text shows as text, tags included")
    if first:
        first[0].find_element(By.TAG_NAME, "a").click()
        try:
            text = wait_for("the statement page", lambda: d.find_element(By.CSS_SELECTOR, "pre.sql").text, 15)
        except RuntimeError as e:
            text = str(e)
        check("pg_sleep" in text, "Statement page shows the full text", text)
        statement_url = d.current_url

    d.get(base + "/space")
    main_text = d.find_element(By.TAG_NAME, "main").text
    check("<img src=x onerror=alert(1)>" in main_text and not d.find_elements(By.CSS_SELECTOR, "main img"),
          "Space: the hostile table name renders as text", main_text[:2000])

    d.get(base + "/activity")
    check("idle in transaction" in d.find_element(By.TAG_NAME, "main").text, "Activity: sessions by state")

    def standby_lag():
        d.get(base + "/replication")
        cells = d.find_elements(By.CSS_SELECTOR, "td.lag")
        # a time, and not zero: the standby's replay is held back 4 s behind the primary
        return cells and re.search(r"[1-9]", cells[0].text) and cells[0].text
    try:
        lag = wait_for("standby lag", standby_lag, 20)
        check(True, f"Replication: the standby shows its lag ({lag})")
    except RuntimeError as e:
        check(False, "Replication: the standby shows its lag", e)
    screenshot(d, "replication-desktop.png", 1280)

    d.get(base + "/pool")
    check(d.find_elements(By.CSS_SELECTOR, "figure.chart"), "Pool: the Erlang C chart or its notice is there")

    # The statement's history: more calls of it, across captures of the store (history.interval
    # 1s), give its mean-time chart a line.
    if first:
        for _ in range(3):
            slow.send("SELECT pg_sleep(1.0) /* slow probe <b>bold</b> */;")

        def statement_history():
            d.get(statement_url)
            return d.find_elements(By.CSS_SELECTOR, "figure.chart svg polyline")
        try:
            wait_for("the statement's history", statement_history, 30)
            check(True, "Statement page charts the statement's mean time from the history store")
        except RuntimeError as e:
            check(False, "Statement page charts the statement's mean time from the history store",
                  f"{e}; {d.find_element(By.TAG_NAME, 'main').text[:500]}")
        screenshot(d, "statement-desktop.png", 1280)

    # Actions: refused without the admin token or the CSRF token.
    form = {"kind": "cancel", "target": "default", "database": DB, "pid": str(waiter_pid)}
    status, _, body = http(base + "/actions/run", urllib.parse.urlencode(form).encode())
    check(status == 403, "an action without the admin token is refused", f"{status} {body[:300]}")
    status, _, body = http(base + "/actions/run",
                           urllib.parse.urlencode(dict(form, admin_token=admin_token)).encode())
    check(status == 403, "an action without the CSRF token is refused", f"{status} {body[:300]}")
    status, _, _ = http(base + "/actions/run?" + urllib.parse.urlencode(dict(form, admin_token=admin_token)))
    check(status in (404, 405), "an action by GET is not an action", status)
    d.get(base + "/actions/confirm?" + urllib.parse.urlencode(dict(form)))
    token = d.find_element(By.NAME, "csrf").get_attribute("value")
    bad = dict(form, admin_token=admin_token, csrf=token, pid=str(blocker_pid))
    status, _, _ = http(base + "/actions/run", urllib.parse.urlencode(bad).encode())
    check(status == 403, "a CSRF token for another action is refused", status)
    d.find_element(By.NAME, "admin_token").send_keys(admin_token)
    d.find_element(By.CSS_SELECTOR, "form[method=post] button").click()
    # the click starts a navigation; the outcome page arrives when the POST has run
    try:
        outcome = wait_for("the action's outcome page", lambda: d.find_element(By.ID, "outcome").text, 15)
    except RuntimeError as e:
        outcome = f"{e}; page: {d.page_source[:1500]}"
    check("signalled" in outcome, "a confirmed cancel with both tokens runs", outcome)
    with open(os.path.join(work, "vigild.log")) as f:
        logged = f.read()
    check(re.search(r"console action cancel by anonymous@127\.0\.0\.1 .*signalled", logged) is not None,
          "the action is logged with who, what and the outcome", logged[-1500:])

if __name__ == "__main__":
    status = 0
    try:
        main()
    except Exception as e:  # noqa: BLE001 — reported as a failure, then everything is stopped
        import traceback
        check(False, f"the test ran to its end ({e.__class__.__name__})", traceback.format_exc())
    finally:
        for fn in reversed(cleanups):
            try:
                fn()
            except Exception:  # noqa: BLE001
                pass
    failed = results.count(False)
    print(f"# {len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
