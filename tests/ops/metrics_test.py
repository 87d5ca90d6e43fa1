#!/usr/bin/env python3
"""/metrics, /healthz and /readyz end to end, against `hijackguard serve` with auth and its HTTP
listener (docs/operations.md).

  * /healthz and /readyz answer without credentials; /metrics refuses no token (401 with
    WWW-Authenticate), a token without the metrics role (403) and a gateway-style header, and
    answers a `metrics` principal's bearer token;
  * a scenario runs: check-ins, the hijack trace through the server, a policy file reload
    (SIGHUP, monitor to enforce) and a broken one, gateway authorizations (answered, refused,
    an unknown path); after each step the named series move by exactly what the step did;
  * every scrape passes `promtool check metrics`, and no scrape holds a token, a device id or a
    user's address;
  * the server's log (logging.format json, level debug) is one JSON object per line; decisions
    and detection events name the decision id, tenant, pseudonymized device and user, the
    principal, and the W3C trace id a caller sent; it holds no token, Authorization value, user
    address or device id in clear.
Exits 77 (skipped) when promtool is not installed.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import served  # noqa: E402
from served import check, run  # noqa: E402

PROMTOOL = "/usr/bin/promtool"
DEVICE = "ApplDMPFXZABDFHW"
USER = "alice@example.com"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
# The device's own credentials for Exchange, which a gateway may pass along: never logged.
EXCHANGE_AUTHORIZATION = "Basic YWxpY2U6c2VjcmV0LTdmM2E5"


class Server(served.Server):
    def get(self, path, headers=None):
        host, port = self.http.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        body = r.read().decode()
        result = (r.status, dict(r.getheaders()), body)
        conn.close()
        return result



def parse(text):
    """{(name, frozenset(labels)): value} of a Prometheus text exposition."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        check(m is not None, f"unreadable metrics line {line!r}")
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                      m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


class Scraper:
    def __init__(self, server, token, work):
        self.server = server
        self.token = token
        self.work = work
        self.count = 0

    def scrape(self):
        status, headers, body = self.server.get(
            "/metrics", {"Authorization": f"Bearer {self.token}"})
        check(status == 200, f"/metrics with the metrics token: {status} {body}")
        check(headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
              f"/metrics content type {headers.get('Content-Type')}")
        self.count += 1
        path = os.path.join(self.work, f"scrape{self.count}.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write(body)
        with open(path, "rb") as f:
            lint = subprocess.run([PROMTOOL, "check", "metrics"], stdin=f, capture_output=True,
                                  text=True, timeout=60, check=False)
        check(lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(),
              f"promtool check metrics: exit {lint.returncode}: {lint.stdout}{lint.stderr}")
        for secret in [self.token, DEVICE, USER, "alice"]:
            check(secret not in body, f"/metrics holds {secret!r}")
        return parse(body)


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name, **labels):
    """The sum over every series of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def delta(before, after, name, **labels):
    return total(after, name, **labels) - total(before, name, **labels)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--source-dir", required=True)
    args = parser.parse_args()
    if not os.path.exists(PROMTOOL):
        print(f"skipped: {PROMTOOL} is not installed")
        sys.exit(77)

    work = tempfile.mkdtemp(prefix="hg-metrics-")
    try:
        tokens = {}
        principals = []
        for pid, roles, tenants in [("mdm", ["mdm"], ["acme"]), ("gw", ["gateway"], ["acme"]),
                                    ("scraper", ["metrics"], ["acme"]),
                                    ("aud", ["auditor"], ["*"])]:
            token = run([args.binary, "auth", "new-token"]).stdout.strip()
            digest = run([args.binary, "auth", "hash-token"], input=token + "\n").stdout.strip()
            tokens[pid] = token
            with open(os.path.join(work, f"{pid}.token"), "w", encoding="utf-8") as f:
                f.write(token + "\n")
            principals.append({"id": pid, "roles": roles, "tenants": tenants,
                               "token_sha256": digest})
        policy_path = os.path.join(work, "policy.json")
        shutil.copy(os.path.join(args.source_dir, "examples", "policies", "default.json"),
                    policy_path)
        config = os.path.join(work, "config.json")
        with open(config, "w", encoding="utf-8") as f:
            json.dump({"listen": "127.0.0.1:0", "state_dir": os.path.join(work, "var"),
                       "policy": policy_path, "http": {"listen": "127.0.0.1:0"},
                       "logging": {"format": "json", "level": "debug"},
                       "auth": {"principals": principals}}, f)
        server = Server(args.binary, config)
        scraper = Scraper(server, tokens["scraper"], work)
        try:
            scenario(args, server, scraper, tokens, work, policy_path)
        finally:
            stderr = server.stop()
        check_log(stderr, tokens)
        print("metrics: every scrape passed promtool check metrics and moved as the scenario did; "
              "the log is JSON lines naming callers by principal and trace id, and no secret")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def scenario(args, server, scraper, tokens, work, policy_path):
    token_file = {p: os.path.join(work, f"{p}.token") for p in tokens}

    # The open routes and the refusals.
    check(server.get("/healthz")[0] == 200, "/healthz")
    status, _, body = server.get("/readyz")
    check(status == 200 and body == "ready\n", f"/readyz: {status} {body!r}")
    status, headers, _ = server.get("/metrics")
    check(status == 401 and headers.get("WWW-Authenticate", "").startswith("Bearer"),
          f"/metrics without a token: {status} {headers}")
    status, _, body = server.get("/metrics", {"Authorization": f"Bearer {tokens['mdm']}"})
    check(status == 403 and "lacks role" in body, f"/metrics with the mdm token: {status}")
    status, _, _ = server.get("/metrics", {"X-Hijackguard-Token": tokens["scraper"]})
    check(status == 401, f"/metrics with the token in the gateway's header: {status}")
    status, _, _ = server.get("/metrics", {"Authorization": "Basic c2NyYXBlcjp4"})
    check(status == 401, f"/metrics with basic auth: {status}")

    start = scraper.scrape()
    version = run([args.binary, "--version"]).stdout.split()[1]
    check(value(start, "hijackguard_build_info", version=version) == 1,
          f"build_info for version {version}")
    check(value(start, "hijackguard_store_up") == 1, "store_up")

    # Check-ins.
    outcomes = {}
    for i in range(3):
        r = run([args.binary, "checkin", "--server", server.address, "--tenant", "acme",
                 "--device-id", DEVICE if i == 0 else f"ApplBENIGN{i}", "--user", USER,
                 "--user-agent", "Apple-iPhone4C1/1001.403" if i == 0 else
                 "Apple-iPhone7C2/1202.410", "--token-file", token_file["mdm"]])
        check(r.returncode == 0, f"checkin: {r.stderr}")
        d = json.loads(r.stdout)
        key = (d.get("enforcedAction", "ACTION_ALLOW").removeprefix("ACTION_"),
               d.get("evaluatedAction", "ACTION_ALLOW").removeprefix("ACTION_"))
        outcomes[key] = outcomes.get(key, 0) + 1
    after_checkins = scraper.scrape()
    for (enforced, evaluated), n in outcomes.items():
        got = delta(start, after_checkins, "hijackguard_decisions_total",
                    enforced_action=enforced, evaluated_action=evaluated, mode="monitor")
        check(got == n, f"decisions {enforced}/{evaluated}: {got}, expected {n}")
    check(delta(start, after_checkins, "hijackguard_decisions_total") == 3, "3 decisions")
    check(delta(start, after_checkins, "hijackguard_grpc_request_duration_seconds_count",
                method="/hijackguard.v1.CompliancePlugin/CheckIn", code="OK") == 3,
          "3 CheckIn calls timed")
    check(delta(start, after_checkins, "hijackguard_store_commit_duration_seconds_count") >= 1,
          "the check-ins' commits were timed")

    # The hijack trace through the server.
    trace = os.path.join(args.source_dir, "examples", "traces", "ios60_hijack.jsonl")
    r = run([args.binary, "replay", "--json", "--server", server.address, "--token-file",
             token_file["gw"], trace])
    check(r.returncode == 0, f"replay: {r.stderr}")
    kinds = {}
    with_events = set()  # the observations that raised events: each re-decides its device
    for line in r.stdout.splitlines():
        doc = json.loads(line)
        if "kind" in doc:
            kind = doc["kind"].removeprefix("EVENT_KIND_")
            kinds[kind] = kinds.get(kind, 0) + 1
            with_events.add(doc["sequence"])
    check(kinds, "the hijack trace raised no event")
    with open(trace, encoding="utf-8") as f:
        observations = sum(1 for line in f if line.strip())
    after_trace = scraper.scrape()
    for kind, n in kinds.items():
        got = delta(after_checkins, after_trace, "hijackguard_detection_events_total", kind=kind)
        check(got == n, f"detection events {kind}: {got}, expected {n}")
    check(delta(after_checkins, after_trace, "hijackguard_detection_events_total") ==
          sum(kinds.values()), "no other detection events")
    got = delta(after_checkins, after_trace, "hijackguard_observations_total", result="accepted")
    check(got == observations, f"observations accepted: {got}, expected {observations}")
    redecided = delta(after_checkins, after_trace, "hijackguard_decisions_total")
    check(redecided == len(with_events),
          f"the device re-decided {redecided} times after {len(with_events)} observations "
          "with events")
    check(value(after_trace, "hijackguard_ledger_meetings") >= 1, "a meeting in the ledger")

    # A policy reload: monitor to enforce, then a broken file.
    with open(policy_path, encoding="utf-8") as f:
        doc = json.load(f)
    doc["mode"] = "enforce"
    with open(policy_path, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    server.process.send_signal(signal.SIGHUP)
    revision = wait_for_revision(args, server, token_file["aud"], "file")
    after_reload = scraper.scrape()
    check(delta(after_trace, after_reload, "hijackguard_policy_reloads_total",
                result="applied") == 1, "one reload applied")
    check(value(after_reload, "hijackguard_policy_info", revision=revision, mode="enforce") == 1,
          f"policy_info names revision {revision} in enforce mode")
    with open(policy_path, "w", encoding="utf-8") as f:
        f.write("{ not json")
    server.process.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while True:
        broken = scraper.scrape()
        if delta(after_reload, broken, "hijackguard_policy_reloads_total", result="failed") == 1:
            break
        check(time.time() < deadline, "a failed reload was not counted within 10 s")
        time.sleep(0.1)
    check(value(broken, "hijackguard_policy_info", revision=revision, mode="enforce") == 1,
          "the policy in force stays after a failed reload")

    # Gateway authorizations: the hijacking device (now quarantined), a refused caller, an
    # unknown path.
    target = (f"/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice&DeviceId={DEVICE}"
              "&DeviceType=iPhone")
    headers = {"X-Hijackguard-Token": tokens["gw"], "X-Hijackguard-Tenant": "acme",
               "X-Original-URI": target, "X-Original-Method": "POST",
               "User-Agent": "Apple-iPhone4C1/1001.403", "MS-ASProtocolVersion": "14.1",
               "traceparent": TRACEPARENT, "Authorization": EXCHANGE_AUTHORIZATION}
    status_answered, answer, _ = server.get("/v1/activesync/authorize", headers)
    action = answer.get("X-Hijackguard-Action")
    check(action in ("WARN", "QUARANTINE", "BLOCK"),
          f"authorize of the hijacking device in enforce mode: {status_answered} {answer}")
    status, _, _ = server.get("/v1/activesync/authorize",
                              {**headers, "X-Hijackguard-Token": tokens["mdm"]})
    check(status == 403, f"authorize with the mdm token: {status}")
    check(server.get("/no/such/path")[0] == 404, "an unknown path")
    # An HTTP request is counted once its answer is written, which can be after the client has
    # read it: scrape until the three requests show (5 s at most), then check exactly.
    deadline = time.time() + 5
    while True:
        after_gateway = scraper.scrape()
        if delta(broken, after_gateway, "hijackguard_http_request_duration_seconds_count",
                 route="/v1/activesync/authorize") >= 2 and \
                delta(broken, after_gateway, "hijackguard_http_request_duration_seconds_count",
                      route="other") >= 1:
            break
        check(time.time() < deadline, "the gateway's requests were not counted within 5 s")
        time.sleep(0.05)
    check(delta(broken, after_gateway, "hijackguard_gateway_authorizations_total",
                answer=action) == 1, f"one authorization answered {action}")
    check(delta(broken, after_gateway, "hijackguard_gateway_authorizations_total",
                answer="REFUSED") == 1, "one authorization refused")
    # nginx's auth_request reads 2xx as "let through" and 403 as "refuse": a quarantined device's
    # answer is a 403 with its action, like a refused caller's.
    check(delta(broken, after_gateway, "hijackguard_http_request_duration_seconds_count",
                route="/v1/activesync/authorize") == 2, "both authorizations timed")
    check(delta(broken, after_gateway, "hijackguard_http_request_duration_seconds_count",
                route="/v1/activesync/authorize", code=str(status_answered)) >= 1,
          f"the answered one timed with its status {status_answered}")
    check(delta(broken, after_gateway, "hijackguard_http_request_duration_seconds_count",
                route="other", code="404") == 1, "the unknown path timed as route other")
    # The scrapes before this one: each a 200 on /metrics.
    check(delta(broken, after_gateway, "hijackguard_http_request_duration_seconds_count",
                route="/metrics", code="200") >= 1, "the scrapes timed")


def check_log(stderr, tokens):
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    for doc in lines:
        check({"time", "level", "msg"} <= doc.keys(), f"a log line without time, level, msg: {doc}")
    for secret in list(tokens.values()) + [EXCHANGE_AUTHORIZATION, "YWxpY2U6c2VjcmV0",
                                           USER, DEVICE]:
        check(secret not in stderr, f"the server's log holds {secret!r} in clear")
    decisions = [d for d in lines if d["msg"] in ("decision", "decision changed")]
    check(decisions, "no decision was logged at level debug")
    for d in decisions:
        check(re.fullmatch(r"[0-9a-f-]{36}", d.get("decision_id", "")) is not None,
              f"a decision line without its id: {d}")
        check(d.get("tenant") == "acme", f"a decision line without its tenant: {d}")
        check(re.fullmatch(r"[0-9a-f]{16}", d.get("device", "")) is not None,
              f"a decision line without its pseudonymized device: {d}")
    by_mdm = [d for d in decisions if d.get("principal") == "mdm"]
    check(len(by_mdm) == 3, f"{len(by_mdm)} decisions logged for the mdm principal, not 3")
    check(all(re.fullmatch(r"[0-9a-f]{16}", d.get("user", "")) for d in by_mdm),
          "a check-in's decision line without the pseudonymized user")
    traced = [d for d in decisions if d.get("trace_id") == TRACE_ID]
    check(len(traced) == 1 and traced[0].get("principal") == "gw" and
          traced[0].get("trigger") == "GATEWAY",
          f"the gateway's decision with the caller's trace id: {traced}")
    events = [d for d in lines if d["msg"] == "detection event"]
    check(events and all(e.get("principal") == "gw" and e.get("tenant") == "acme" and
                         re.fullmatch(r"[0-9a-f]{16}", e.get("device", "")) for e in events),
          f"detection events without their principal, tenant or device: {events}")
    changed = [d for d in decisions if d["msg"] == "decision changed"]
    check(changed and all(d["level"] == "INFO" and d.get("previous") for d in changed),
          f"a changed decision without INFO or its previous action: {changed}")


def wait_for_revision(args, server, auditor_token, origin_prefix):
    """The revision of the policy in force once its origin starts with `origin_prefix`."""
    deadline = time.time() + 10
    while True:
        r = run([args.binary, "policy", "get", "--server", server.address, "--token-file",
                 auditor_token])
        m = re.search(r"revision (\S+)", r.stderr)
        origin = re.search(r"origin (\S+)", r.stderr)
        if r.returncode == 0 and m and origin and origin.group(1).startswith(origin_prefix) \
                and '"enforce"' in r.stdout:
            return m.group(1).rstrip(",;)")
        check(time.time() < deadline, f"the reloaded policy is not in force: {r.stderr}")
        time.sleep(0.1)


if __name__ == "__main__":
    main()
