#!/usr/bin/env python3
"""SIEM delivery end to end, against `hijackguard serve` with auth (docs/operations.md, "SIEM
delivery").

Formats (siem.pii on, four sinks at once):
  * Debian's rsyslog, started here as its own instance on loopback (imtcp), receives the hijack
    scenario's alerts as RFC 5424 messages with CEF; a CEF parser here reads every header field
    and extension back and compares it with the JSON webhook's copy of the same alert, for a
    user principal holding `|`, `\\`, `=` and a newline;
  * syslog over TLS (a TLS listener here, verified against a test CA) gets the same records;
  * an HTTPS webhook gets JSON arrays with `Authorization: Bearer`, and another Splunk HEC
    envelopes with `Authorization: Splunk`;
  * the audit checkpoints go out the same way, and a checkpoint the SIEM received verifies
    against the state with `hijackguard audit verify --checkpoint`.
At least once (siem.pii off): the webhook receiver is down for the first 30 s of a scenario, and
hijackguard is killed with SIGKILL once in the middle, while the receiver holds a batch it has
not answered yet; afterwards the receiver holds every alert the audit log recorded (a decision
that changed the evaluated action), each at least once (that batch twice), in order per device,
and after deduplication by alert id exactly once and nothing else. During the outage
`hijackguard alerts backlog` and /metrics show the backlog; once delivered, the outbox is pruned.
Personal data: neither the payloads nor the server's logs (the decision log on) hold a user principal, an e-mail
address, a device id, a token or an Authorization value in clear.
Exits 77 (skipped) when rsyslogd or openssl is not installed.
"""

import argparse
import http.server
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import served  # noqa: E402
from served import check, fail, run  # noqa: E402

RSYSLOGD = "/usr/sbin/rsyslogd"
OPENSSL = "/usr/bin/openssl"
HIJACK_DEVICE = "ApplDMPFXZABDFHW"
# A principal with every character CEF escapes in extension values, and `|`, which it must not.
ODD_USER = "o|brien\\ops=x\ny@example.com"
UA_WARN = "Apple-iPhone4C1/1001.403"  # iOS 6.0: the confirmed hijack build (WARN)
UA_ALLOW = "Apple-iPhone7C2/1202.410"  # iOS 8: nothing known (ALLOW)
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    fail(f"timed out after {seconds} s waiting for {what}")


# --------------------------------------------------------------------------------------------
# CEF, as its specification defines it


def split_header(cef):
    """The 7 header fields (unescaped) and the extension of a CEF record."""
    check(cef.startswith("CEF:"), f"not a CEF record: {cef[:80]!r}")
    fields, current, i = [], "", 4
    while len(fields) < 7:
        c = cef[i]
        if c == "\\" and cef[i + 1] in "\\|":
            current += cef[i + 1]
            i += 2
        elif c == "|":
            fields.append(current)
            current = ""
            i += 1
        else:
            current += c
            i += 1
    return fields, cef[i:]


def parse_extension(ext):
    """{key: value} of a CEF extension: keys are `name=` at a space; values unescape `\\\\`, `\\=`,
    `\\n` and `\\r`."""
    starts = [m for m in re.finditer(r"(?:^| )([A-Za-z0-9_]+)=", ext)
              if not backslashed(ext, m.start(1) - 1)]
    values = {}
    for n, m in enumerate(starts):
        end = starts[n + 1].start() if n + 1 < len(starts) else len(ext)
        raw = ext[m.end():end]
        out, i = "", 0
        while i < len(raw):
            if raw[i] == "\\" and i + 1 < len(raw):
                out += {"n": "\n", "r": "\r"}.get(raw[i + 1], raw[i + 1])
                i += 2
            else:
                check(raw[i] != "=", f"an unescaped '=' in the value of {m.group(1)}: {raw!r}")
                out += raw[i]
                i += 1
        values[m.group(1)] = out
    return values


def backslashed(text, i):
    n = 0
    while i - n >= 0 and text[i - n] == "\\":
        n += 1
    return n % 2 == 1


def parse_cef(cef):
    header, ext = split_header(cef)
    check(header[0] == "0", f"CEF version {header[0]!r}")
    record = {"vendor": header[1], "product": header[2], "version": header[3],
              "signature": header[4], "name": header[5], "severity": header[6]}
    record.update(parse_extension(ext))
    return record


# --------------------------------------------------------------------------------------------
# Receivers


class Webhook:
    """An HTTPS receiver: POST /json (Bearer) and /hec (Splunk); keeps (path, body) of each."""

    def __init__(self, port, cert, key, token, hold_first=False):
        self.port, self.token = port, token
        # With hold_first, the first POST is kept but not answered until `release` is set.
        self.hold_first = hold_first
        self.held, self.release = threading.Event(), threading.Event()
        self.posts = []
        self.authorization_seen = set()
        self.lock = threading.Lock()
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.httpd = None

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                scheme = "Splunk" if self.path == "/hec" else "Bearer"
                authorization = self.headers.get("Authorization", "")
                with receiver.lock:
                    receiver.authorization_seen.add(authorization)
                ok = authorization == f"{scheme} {receiver.token}"
                hold = False
                if ok:
                    with receiver.lock:
                        receiver.posts.append((self.path, body.decode("utf-8")))
                        hold = receiver.hold_first and not receiver.held.is_set()
                        if hold:
                            receiver.held.set()
                if hold:
                    receiver.release.wait(60)
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.socket = self.context.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    def events(self, path):
        """The events of every POST to `path`, in arrival order."""
        out = []
        with self.lock:
            posts = list(self.posts)
        for p, body in posts:
            if p != path:
                continue
            if path == "/hec":
                decoder, i = json.JSONDecoder(), 0
                while body[i:].strip():
                    i += len(body[i:]) - len(body[i:].lstrip())
                    envelope, i = decoder.raw_decode(body, i)
                    check(envelope.get("sourcetype", "").startswith("hijackguard:"),
                          f"HEC sourcetype: {envelope}")
                    out.append(envelope["event"])
            else:
                out.extend(json.loads(body))
        return out

    def bodies(self):
        with self.lock:
            return [body for _, body in self.posts]


class TlsSyslog:
    """A syslog-over-TLS listener (RFC 5425 octet-counted frames); keeps each message."""

    def __init__(self, port, cert, key):
        self.messages = []
        self.lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.sock = context.wrap_socket(socket.create_server(("127.0.0.1", port)),
                                        server_side=True)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.read, args=(conn,), daemon=True).start()

    def read(self, conn):
        buf = b""
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b" " in buf:
                length, rest = buf.split(b" ", 1)
                check(length.isdigit(), f"not an octet-counted frame: {buf[:40]!r}")
                if len(rest) < int(length):
                    break
                with self.lock:
                    self.messages.append(rest[:int(length)].decode("utf-8"))
                buf = rest[int(length):]


class Rsyslog:
    """Debian's rsyslogd as an instance of its own: imtcp on loopback, each message written as
    `<msgid> <severity> <app-name> <msg>` to a file."""

    def __init__(self, work, port):
        self.out = os.path.join(work, "rsyslog-received.log")
        conf = os.path.join(work, "rsyslog.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f'''global(workDirectory="{work}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{port}")
template(name="fields" type="string" string="%msgid% %syslogseverity% %app-name% %msg%\\n")
action(type="omfile" file="{self.out}" template="fields")
''')
        self.process = subprocess.Popen([RSYSLOGD, "-n", "-f", conf, "-i",
                                         os.path.join(work, "rsyslog.pid")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def listening():
            if self.process.poll() is not None:
                fail(f"rsyslogd exited: {self.process.stderr.read().decode()}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        wait_until(listening, 30, "rsyslogd to listen")

    def lines(self):
        if not os.path.exists(self.out):
            return []
        with open(self.out, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.communicate(timeout=30)


# --------------------------------------------------------------------------------------------
# The server


class Server(served.Server):
    def metrics(self, token):
        request = urllib.request.Request(f"http://{self.http}/metrics",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.read().decode()


class Setup:
    def __init__(self, args, work):
        self.args, self.work = args, work
        self.tokens, principals = {}, []
        for pid, roles in [("mdm", ["mdm"]), ("gw", ["gateway"]), ("scraper", ["metrics"])]:
            token = run([args.binary, "auth", "new-token"]).stdout.strip()
            digest = run([args.binary, "auth", "hash-token"], input=token + "\n").stdout.strip()
            self.tokens[pid] = token
            self.write(f"{pid}.token", token + "\n")
            principals.append({"id": pid, "roles": roles, "tenants": ["acme"],
                               "token_sha256": digest})
        self.principals = principals
        self.tokens["siem"] = run([args.binary, "auth", "new-token"]).stdout.strip()
        self.write("siem.token", self.tokens["siem"] + "\n")
        # A test CA and a certificate for the receivers (127.0.0.1 and localhost).
        for cmd in [
                [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                 "-days", "2", "-subj", "/CN=hijackguard test CA"],
                [OPENSSL, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", "receiver.key", "-out", "receiver.csr", "-subj",
                 "/CN=localhost"],
                [OPENSSL, "x509", "-req", "-in", "receiver.csr", "-CA", "ca.pem", "-CAkey",
                 "ca.key", "-CAcreateserial", "-out", "receiver.pem", "-days", "2", "-extfile",
                 "san.ext"]]:
            if cmd[1] == "x509":
                self.write("san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
            r = run(cmd, cwd=work)
            check(r.returncode == 0, f"{' '.join(cmd)}: {r.stderr}")
        self.ca = os.path.join(work, "ca.pem")
        self.cert = os.path.join(work, "receiver.pem")
        self.key = os.path.join(work, "receiver.key")

    def path(self, name):
        return os.path.join(self.work, name)

    def write(self, name, text):
        with open(self.path(name), "w", encoding="utf-8") as f:
            f.write(text)

    def config(self, name, state, siem):
        self.write(name, json.dumps({
            "listen": "127.0.0.1:0", "state_dir": self.path(state),
            "http": {"listen": "127.0.0.1:0"}, "auth": {"principals": self.principals},
            "audit": {"checkpoint_seconds": 10}, "logging": {"format": "json"},
            "decision_log": {"sample": 1}, "siem": siem}))
        return self.path(name)

    def checkin(self, server, device, user, agent):
        r = run([self.args.binary, "checkin", "--server", server.address, "--tenant", "acme",
                 "--device-id", device, "--user", user, "--user-agent", agent,
                 "--token-file", self.path("mdm.token")])
        check(r.returncode == 0, f"checkin: {r.stderr}")

    def replay(self, server):
        trace = os.path.join(self.args.source_dir, "examples", "traces", "ios60_hijack.jsonl")
        r = run([self.args.binary, "replay", "--server", server.address, "--token-file",
                 self.path("gw.token"), trace])
        check(r.returncode == 0, f"replay: {r.stderr}")

    def alert_audit(self, state):
        """The audit's decisions that changed the evaluated action: the alerts, in order."""
        r = run([self.args.binary, "audit", "export", "--state", self.path(state)])
        check(r.returncode == 0, f"audit export: {r.stderr}")
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        return [row for row in rows if row["kind"] == "decision" and
                row["previous_action"] != row["evaluated_action"]]


# --------------------------------------------------------------------------------------------
# Formats


def formats(setup):
    rsyslog_port, tls_port, hook_port = free_port(), free_port(), free_port()
    rsyslog = Rsyslog(setup.work, rsyslog_port)
    tls_syslog = TlsSyslog(tls_port, setup.cert, setup.key)
    hook = Webhook(hook_port, setup.cert, setup.key, setup.tokens["siem"])
    hook.start()
    token_file = setup.path("siem.token")
    config = setup.config("formats.json", "var-formats", {"pii": True, "sinks": [
        {"name": "rsyslog", "type": "syslog", "address": f"127.0.0.1:{rsyslog_port}"},
        {"name": "syslog-tls", "type": "syslog", "address": f"localhost:{tls_port}",
         "tls": True, "ca_file": setup.ca},
        {"name": "hook", "type": "webhook", "url": f"https://127.0.0.1:{hook_port}/json",
         "ca_file": setup.ca, "token_file": token_file},
        {"name": "hec", "type": "webhook", "format": "splunk_hec",
         "url": f"https://127.0.0.1:{hook_port}/hec", "ca_file": setup.ca,
         "token_file": token_file}]})
    server = Server(setup.args.binary, config, setup.path("formats.log"))
    try:
        setup.checkin(server, HIJACK_DEVICE, ODD_USER, UA_WARN)
        setup.replay(server)

        def complete():
            return (len([e for e in hook.events("/json") if e["type"] == "alert"]) >= 2 and
                    any(e["type"] == "audit_checkpoint" for e in hook.events("/json")))
        wait_until(complete, 60, "two alerts and a checkpoint at the webhook")
        expected = setup.alert_audit("var-formats")
        alerts = [e for e in hook.events("/json") if e["type"] == "alert"]
        check([a["decision_id"] for a in alerts] == [r["decision_id"] for r in expected],
              f"the webhook's alerts {alerts} are not the audit's {expected}")
        check([a["new_action"] for a in alerts] == ["WARN", "QUARANTINE"],
              f"the scenario's alerts: {[a['new_action'] for a in alerts]}")
        check(all(a["user"] == ODD_USER and a["device"] == HIJACK_DEVICE for a in alerts),
              "siem.pii: the user and the device in clear")
        check(hook.authorization_seen == {f"Bearer {setup.tokens['siem']}",
                                          f"Splunk {setup.tokens['siem']}"},
              "every POST carried the sink's token in its scheme")
        hec = hook.events("/hec")
        check([e["id"] for e in hec] == [e["id"] for e in hook.events("/json")][:len(hec)] and
              len(hec) >= 3, "the HEC sink got the same events in the same order")
        wait_until(lambda: len(rsyslog.lines()) >= 3 and len(tls_syslog.messages) >= 3, 30,
                   "the syslog sinks")
        version = run([setup.args.binary, "--version"]).stdout.split()[1]
        rsyslog_records = {}
        for line in rsyslog.lines():
            msgid, severity, app, msg = line.split(" ", 3)
            record = parse_cef(msg.lstrip("\ufeff"))
            record.update(msgid=msgid, syslog_severity=severity, app=app)
            rsyslog_records[record["externalId"]] = record
        tls_records = {}
        for message in tls_syslog.messages:
            # <PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG
            m = re.fullmatch(r"<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) - (?:\ufeff)?(.*)",
                             message, re.S)
            check(m is not None, f"not RFC 5424: {message[:120]!r}")
            record = parse_cef(m.group(7))
            record.update(pri=int(m.group(1)), msgid=m.group(6), app=m.group(4))
            tls_records[record["externalId"]] = record
        for a in alerts:
            for records, where in [(rsyslog_records, "rsyslog"), (tls_records, "syslog-tls")]:
                check(a["id"] in records, f"{where} lacks alert {a['id']}")
                r = records[a["id"]]
                want = {"vendor": "hijackguard", "product": "hijackguard", "version": version,
                        "signature": f"{a['trigger']}:{a['new_action']}",
                        "name": f"Device evaluated action {a['old_action']} -> {a['new_action']}",
                        "severity": {"WARN": "5", "QUARANTINE": "8"}[a["new_action"]],
                        "act": a["new_action"], "cat": a["trigger"], "duser": a["user"],
                        "cs1": a["device"], "cs1Label": "easDeviceId", "cs2": a["tenant_id"],
                        "cs3": a["enforced_action"], "cs4": a["old_action"],
                        "cs5": a["policy_revision"], "cs6": a["decision_id"],
                        "flexString1": a["mode"], "msgid": "alert",
                        "reason": ",".join(x["code"] for x in a["reasons"]),
                        "msg": "\n".join(x["message"] for x in a["reasons"])}
                for key, value in want.items():
                    check(r.get(key) == value,
                          f"{where} {key}: {r.get(key)!r}, the webhook says {value!r}")
            check(tls_records[a["id"]]["pri"] == 16 * 8 +
                  {"WARN": 4, "QUARANTINE": 3}[a["new_action"]], "PRI: local0 and the action")
        # The checkpoint: in every sink, and it verifies against the state.
        checkpoint = next(e for e in hook.events("/json") if e["type"] == "audit_checkpoint")
        for records, where in [(rsyslog_records, "rsyslog"), (tls_records, "syslog-tls")]:
            r = records.get(checkpoint["id"])
            check(r is not None and r["signature"] == "AUDIT:CHECKPOINT" and
                  r["msg"] == checkpoint["checkpoint"], f"{where}: the checkpoint {r}")
        setup.write("checkpoint.json", checkpoint["checkpoint"] + "\n")
        r = run([setup.args.binary, "audit", "verify", "--state", setup.path("var-formats"),
                 "--checkpoint", setup.path("checkpoint.json")])
        check(r.returncode == 0, f"audit verify --checkpoint from the SIEM: {r.stdout}{r.stderr}")
    finally:
        server.stop()
        hook.stop()
        rsyslog.stop()
    print(f"formats: {len(alerts)} alerts and the checkpoints read back field by field from "
          f"rsyslog, syslog over TLS, the JSON webhook and Splunk HEC")


# --------------------------------------------------------------------------------------------
# At least once, across an outage and a SIGKILL


def at_least_once(setup):
    hook_port = free_port()
    hook = Webhook(hook_port, setup.cert, setup.key, setup.tokens["siem"], hold_first=True)
    config = setup.config("outage.json", "var-outage", {"sinks": [
        {"name": "hook", "type": "webhook", "url": f"https://127.0.0.1:{hook_port}/json",
         "ca_file": setup.ca, "token_file": setup.path("siem.token"),
         "retry_min_seconds": 0.2, "retry_max_seconds": 2, "batch": 7}]})
    log = setup.path("outage.log")
    started = time.time()
    devices = [f"ApplOUTAGE{i:04d}" for i in range(6)]
    users = {d: f"user{n}@example.com" for n, d in enumerate(devices)}
    server = Server(setup.args.binary, config, log)
    try:
        for round_ in range(3):
            for d in devices:
                setup.checkin(server, d, users[d], UA_WARN if round_ % 2 == 0 else UA_ALLOW)
        check(time.time() - started < 28, "the first half ran past the receiver's outage")
        # The backlog shows while the receiver is down.
        r = run([setup.args.binary, "alerts", "backlog", "--config", config, "--json"])
        check(r.returncode == 0, f"alerts backlog: {r.stderr}")
        sink = json.loads(r.stdout)["sinks"]
        check(len(sink) == 1 and sink[0]["sink"] == "hook" and sink[0]["backlog"] > 0,
              f"alerts backlog during the outage: {r.stdout}")
        metrics = server.metrics(setup.tokens["scraper"])
        backlog = re.search(r'^hijackguard_siem_backlog\{sink="hook"\} (\S+)$', metrics, re.M)
        check(backlog is not None and float(backlog.group(1)) > 0, "hijackguard_siem_backlog")
        failed = re.search(
            r'^hijackguard_siem_deliveries_total\{result="failed",sink="hook"\} (\S+)$',
            metrics, re.M)
        check(failed is not None and float(failed.group(1)) > 0, "failed deliveries counted")
        time.sleep(max(0.0, started + 30 - time.time()))
        hook.start()
        # Killed in the middle: the receiver has a batch it has not acknowledged.
        wait_until(hook.held.is_set, 30, "the first delivery after the outage")
        server.kill()
        hook.release.set()
        server = Server(setup.args.binary, config, log)
        for round_ in range(3, 6):
            for d in devices:
                setup.checkin(server, d, users[d], UA_WARN if round_ % 2 == 0 else UA_ALLOW)
        setup.checkin(server, HIJACK_DEVICE, "alice@example.com", UA_WARN)
        setup.replay(server)
        expected = setup.alert_audit("var-outage")
        want = {row["decision_id"] for row in expected}

        def delivered():
            got = {e["decision_id"] for e in hook.events("/json") if e["type"] == "alert"}
            return want <= got
        wait_until(delivered, 60, "every alert after the outage")
        def backlog():
            return json.loads(run([setup.args.binary, "alerts", "backlog", "--config", config,
                                   "--json"]).stdout)
        wait_until(lambda: backlog()["sinks"][0]["backlog"] == 0, 30, "the backlog to drain")
        # Delivered entries leave the outbox (a checkpoint may be on its way).
        wait_until(lambda: backlog()["kept"] <= 2, 30, "the outbox to be pruned")
    finally:
        server.stop()
        hook.stop()
    events = hook.events("/json")
    alerts = [e for e in events if e["type"] == "alert"]
    unique = {}
    for a in alerts:
        if a["id"] in unique:
            check(unique[a["id"]] == a, f"alert {a['id']} differs between deliveries")
        unique.setdefault(a["id"], a)
    check(sorted(a["decision_id"] for a in unique.values()) == sorted(want),
          "after deduplication by alert id: exactly the audit's alerts, once each")
    check(len(alerts) > len(unique), "the batch unanswered at the kill was delivered again")
    # In order per device: the first delivery of each alert follows the audit's order.
    by_device = {}
    for row in expected:
        by_device.setdefault(row["eas_device_id"], []).append(row["decision_id"])
    first_seen = []
    for a in alerts:
        if a["decision_id"] not in first_seen:
            first_seen.append(a["decision_id"])
    for device, order in by_device.items():
        check([d for d in first_seen if d in order] == order,
              f"{device}'s alerts out of order")
    check(len(by_device) == len(devices) + 1, f"alerts for {len(by_device)} devices")
    check(any(e["type"] == "audit_checkpoint" for e in events), "a checkpoint went out")
    with open(log, encoding="utf-8") as f:
        server_log = f.read()
    decision_log = [json.loads(line) for line in server_log.splitlines()
                    if '"msg":"decision log"' in line]
    check(len(decision_log) >= 6 * len(devices) and
          all(d.get("build") and d.get("policy_revision") for d in decision_log),
          "a decision log line per decision, with its build and policy revision")
    personal_data(setup, hook.bodies(), server_log, list(users.values()) + devices +
                  [HIJACK_DEVICE, "alice@example.com", "bob@example.com"])
    print(f"at least once: {len(want)} alerts over {len(devices) + 1} devices, receiver down "
          f"30 s and the server killed once: {len(alerts)} deliveries, every alert at least "
          f"once, in order per device, exactly once after deduplication")


def personal_data(setup, bodies, server_log, clear_values):
    secrets = [setup.tokens[k] for k in setup.tokens]
    for where, text in [("the SIEM payloads", "\n".join(bodies)), ("the server's log",
                                                                    server_log)]:
        check(text, f"{where} are empty")
        for value in clear_values + secrets:
            check(value not in text, f"{where} hold {value!r} in clear")
        m = EMAIL.search(text)
        check(m is None, f"{where} hold an e-mail address: {m.group(0) if m else ''}")
        check("Bearer " not in text and "Splunk " not in text,
              f"{where} hold an Authorization value")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--source-dir", required=True)
    args = parser.parse_args()
    for tool in (RSYSLOGD, OPENSSL):
        if not os.path.exists(tool):
            print(f"skipped: {tool} is not installed")
            sys.exit(77)
    work = tempfile.mkdtemp(prefix="hg-siem-")
    try:
        setup = Setup(args, work)
        formats(setup)
        at_least_once(setup)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
