#!/usr/bin/env python3
"""Device affinity through nginx in front of hijackguard replicas (docs/gateway.md): Debian's nginx
with what `hijackguard gateway nginx-config --replica URL --replica URL` prints, in front of a fake
ActiveSync upstream, and two `hijackguard serve` replicas sharing one database of a throwaway
PostgreSQL 15 cluster (pg_throwaway). It checks, by the replicas' own request counts:
  * each device's authorize requests, in the plain and in the base64 target form, all reach one
    replica, and the devices spread over both;
  * each device's observations are all posted to one replica;
  * a hijack observed through nginx refuses the device's next request, although the answer nginx
    kept came from the replica its authorize requests go to and the traffic may have gone to the
    other (each replica tells the others, and nginx reads every replica's change feed);
  * with one replica stopped, every device is answered again (by the other) within seconds.
Exits 77 (skipped) when nginx, its Lua module or PostgreSQL's server is not installed.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from gateway_test import (HIJACKER, HIJACKER_HEADERS, LUA_MODULE, NGINX, PLAIN,  # noqa: E402
                          TENANT, Hijackguard, Nginx, Upstream, base64_target, check,
                          refusal_body, send)
from replicas_bench import Cluster  # noqa: E402

DEVICES = [f"ApplAFFINITY{i:04d}" for i in range(16)]


def start_replicas(args, work, cluster, tokens):
    policy = os.path.join(work, "policy.json")
    shutil.copyfile(os.path.join(args.source_dir, "examples", "policies", "strict.json"), policy)

    def digest(name):
        return hashlib.sha256(tokens[name].encode()).hexdigest()

    replicas = []
    for i in range(2):
        config = os.path.join(work, f"replica{i}.json")
        with open(config, "w", encoding="utf-8") as f:
            json.dump({"listen": "127.0.0.1:0", "state_dir": os.path.join(work, f"state{i}"),
                       "policy": policy, "shutdown_grace_seconds": 1,
                       "state_store": "postgres",
                       "postgres": {"dsn": cluster.dsn["gateway"],
                                    "password_file": cluster.password_file},
                       "audit": {"key_file": os.path.join(work, "audit.key")},
                       "http": {"listen": "127.0.0.1:0"},
                       "auth": {"principals": [
                           {"id": "gw", "roles": ["gateway"], "tenants": [TENANT],
                            "token_sha256": digest("gw")},
                           {"id": "mon", "roles": ["metrics"], "tenants": ["*"],
                            "token_sha256": digest("mon")}]}},
                      f)
        replicas.append(Hijackguard(args.binary, config))
    return replicas


def route_counts(replica, token):
    """The replica's answered requests per route, from its /metrics."""
    conn = http.client.HTTPConnection(*replica.http.rsplit(":", 1), timeout=10)
    conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    text = response.read().decode()
    check(response.status == 200, f"/metrics answered {response.status}")
    counts = {}
    for m in re.finditer(r'^hijackguard_http_request_duration_seconds_count\{([^}]*)\} (\S+)$',
                         text, re.M):
        route = re.search(r'route="([^"]*)"', m.group(1)).group(1)
        counts[route] = counts.get(route, 0) + float(m.group(2))
    return counts


def affinity(ctx):
    """Each device's requests reach one replica; the devices spread over both."""
    authorize, observe = "/v1/activesync/authorize", "/v1/activesync/observe"
    ios60 = {"eas_exchange": {"headers": HIJACKER_HEADERS, "request_body": ""}}
    owners = {}
    for device in DEVICES:
        before = [route_counts(r, ctx.tokens["mon"]) for r in ctx.replicas]
        delivered = ctx.nginx.stats().get("delivered", 0)
        # Four different targets (nginx keeps answers per target), two of them base64; Sync is
        # captured, so two observations are posted.
        for cmd in ("FolderSync", "Sync"):
            target = PLAIN.format(cmd=cmd, device=device, type="iPhone")
            for form in (target, base64_target(target, "14.0")):
                status, _, _ = send(ctx.conn, ios60, form)
                check(status == 200, f"{device} {cmd} was refused: {status}")
        deadline = time.time() + 10
        while ctx.nginx.stats().get("delivered", 0) < delivered + 2 and time.time() < deadline:
            time.sleep(0.05)
        after = [route_counts(r, ctx.tokens["mon"]) for r in ctx.replicas]
        asked = [a.get(authorize, 0) - b.get(authorize, 0) for a, b in zip(after, before)]
        posted = [a.get(observe, 0) - b.get(observe, 0) for a, b in zip(after, before)]
        check(sorted(asked) == [0, 4],
              f"{device}'s four authorize requests went to the replicas as {asked}")
        check(sum(posted) >= 1 and min(posted) == 0,
              f"{device}'s observations were posted to the replicas as {posted}")
        owners[device] = (asked.index(4), posted.index(max(posted)))
    spread = {a for a, _ in owners.values()}
    check(spread == {0, 1}, f"every device's authorize went to replica {spread}")
    print(f"ok: each of {len(DEVICES)} devices' authorize requests (plain and base64) and "
          f"observations reach one replica; authorize: "
          f"{sum(1 for a, _ in owners.values() if a == 0)} devices on replica 0, "
          f"{sum(1 for a, _ in owners.values() if a == 1)} on replica 1")
    return owners


def hijack_refused(ctx):
    """A hijack seen through nginx refuses the device's next request."""
    ios60 = {"eas_exchange": {"headers": HIJACKER_HEADERS, "request_body": ""}}
    probe = PLAIN.format(cmd="FolderSync", device=HIJACKER, type="iPhone")
    status, body, _ = send(ctx.conn, ios60, probe)
    check(status == 200 and body != refusal_body(7, 0x16),
          f"the device was refused before its hijack: {status}")
    trace = os.path.join(ctx.source, "examples", "traces", "ios60_hijack.jsonl")
    with open(trace, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    for n, line in enumerate(lines):
        ctx.upstream.answers[str(n)] = (line["eas_exchange"].get("response_status", 200),
                                        base64.b64decode(
                                            line["eas_exchange"].get("response_body", "")))
        status, _, _ = send(ctx.conn, line, line["eas_exchange"]["target"],
                            {"X-Test-Line": str(n)})
    seen = time.monotonic()
    while True:
        status, body, _ = send(ctx.conn, ios60, probe)
        if body == refusal_body(7, 0x16) or time.monotonic() - seen > 10:
            break
        time.sleep(0.05)
    took = time.monotonic() - seen
    check(body == refusal_body(7, 0x16),
          f"the hijacker is not refused as Exchange refuses a blocked device {took:.1f} s after "
          f"its hijack: {status} {body[:80]!r}")
    check("feed_failed" not in ctx.nginx.stats(), f"a change feed failed: {ctx.nginx.stats()}")
    print(f"ok: the hijack is enforced at the gateway {took:.2f} s after its last exchange")


def failover(ctx, owners):
    """One replica stopped: every device is answered by the other."""
    ios60 = {"eas_exchange": {"headers": HIJACKER_HEADERS, "request_body": ""}}
    ctx.replicas[0].stop()
    deadline = time.monotonic() + 15
    pending = set(DEVICES)
    while pending and time.monotonic() < deadline:
        for device in sorted(pending):
            # A target nginx has kept no answer for.
            target = PLAIN.format(cmd="Ping", device=device, type="iPhone") + \
                f"&n={int(time.monotonic() * 1000)}"
            status, _, _ = send(ctx.conn, ios60, target)
            if status == 200:
                pending.discard(device)
        time.sleep(0.2)
    on_stopped = [d for d, (a, _) in owners.items() if a == 0]
    check(not pending, f"{len(pending)} devices unanswered 15 s after replica 0 stopped "
                       f"({len(on_stopped)} were its)")
    print(f"ok: with replica 0 stopped, all {len(DEVICES)} devices are answered "
          f"({len(on_stopped)} of them had been replica 0's)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--pg-throwaway", required=True)
    parser.add_argument("--source-dir", required=True)
    args = parser.parse_args()
    for path in (NGINX, LUA_MODULE):
        if not os.path.exists(path):
            print(f"skipped: {path} is not installed")
            sys.exit(77)
    work = tempfile.mkdtemp(prefix="hg-gateway-replicas-")
    os.chmod(work, 0o755)  # nginx's workers (nobody, under root) read the refusal pages
    cluster = None
    replicas = []
    nginx = None
    try:
        cluster = Cluster(args.pg_throwaway, ["gateway"])
        tokens = {}
        for name in ("gw", "mon"):
            tokens[name] = subprocess.run([args.binary, "auth", "new-token"],
                                          capture_output=True, check=True).stdout.decode().strip()
            with open(os.path.join(work, f"{name}.token"), "w", encoding="utf-8") as f:
                f.write(tokens[name] + "\n")
        both = subprocess.run(
            [args.binary, "gateway", "nginx-config", "--exchange", "http://127.0.0.1:1",
             "--tenant", TENANT, "--prefix", os.path.join(work, "both"),
             "--hijackguard", "http://127.0.0.1:2", "--replica", "http://127.0.0.1:3"],
            capture_output=True, check=False)
        check(both.returncode != 0 and b"not both" in both.stderr,
              f"--hijackguard with --replica was not refused: {both.stderr!r}")
        upstream = Upstream()
        replicas = start_replicas(args, work, cluster, tokens)
        nginx = Nginx(args.binary, os.path.join(work, "ngx"),
                      [f"http://{r.http}" for r in replicas], upstream.port,
                      os.path.join(work, "gw.token"), "closed")
        conn = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=30)
        ctx = argparse.Namespace(replicas=replicas, nginx=nginx, conn=conn, tokens=tokens,
                                 upstream=upstream, source=args.source_dir)
        owners = affinity(ctx)
        hijack_refused(ctx)
        failover(ctx, owners)
        print("PASS")
    finally:
        if nginx:
            nginx.stop()
        for r in replicas:
            if r.process.poll() is None:
                r.stop()
        if cluster:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
