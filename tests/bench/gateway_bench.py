#!/usr/bin/env python3
"""The gateway's cost, measured through nginx with h2load --h1 (docs/gateway.md "Performance").

One nginx (the generated configuration's parts, from `hijackguard gateway nginx-config
--snippet`) serves three side-by-side front ends to the same fast upstream (an nginx location that
answers at once with a small Sync response):
  straight   nginx -> upstream
  auth       + auth_request to hijackguard (GET /v1/activesync/authorize)
  capture    + the Lua capture of the Sync request and response bodies, posted to
               POST /v1/activesync/observe
hijackguard runs as shipped (SQLite state with synchronous=full, audit on) with a gateway token.
Each request is a Sync POST of a real iOS body, over --devices DeviceIds (h2load -i, a list of
targets); every device is seen once before measuring, as in steady state. Modes alternate, each
--rounds times; the figures are medians: requests per second, p50 and p99 latency from h2load's
--log-file, the ratios to straight, and the CPU time per request of nginx, hijackguard and h2load
together (from /proc and the client's rusage). With --check the run fails when the targets are missed
(auth >= 0.8 of straight and p99 + 1 ms; capture >= 0.6).
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gateway"))
import gateway_test  # noqa: E402  (the Hijackguard launcher)

NGINX = "/usr/sbin/nginx"
H2LOAD = "/usr/bin/h2load"
TENANT = "acme"
# <Sync><Status>1</Status></Sync>, as Lua decimal escapes.
FAST_ANSWER = r"\3\1\106\0\69\78\3\49\0\1\1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_conf(work, snippet, ports):
    http_part, server_part = snippet.split("# ---- inside the server { } that serves ActiveSync "
                                           "----\n")
    http_part = http_part.split("# ---- inside http { } ----\n")[1]
    no_capture = "\n".join(l for l in server_part.splitlines()
                           if "body_filter_by_lua" not in l and "log_by_lua" not in l)
    indent = lambda text: "".join(f"        {l}\n" for l in text.splitlines())
    p = work
    return f"""
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes auto;
pid {p}/nginx.pid;
error_log {p}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {p}/tmp/client_body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    access_log off;
{indent(http_part)}
    server {{
        listen 127.0.0.1:{ports['upstream']};
        location / {{
            content_by_lua_block {{
                ngx.header["Content-Type"] = "application/vnd.ms-sync.wbxml"
                ngx.print("{FAST_ANSWER}")
            }}
        }}
    }}
    server {{
        listen 127.0.0.1:{ports['straight']};
        location /Microsoft-Server-ActiveSync {{
            proxy_pass http://hijackguard_exchange;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
    server {{
        listen 127.0.0.1:{ports['auth']};
{indent(no_capture)}
    }}
    server {{
        listen 127.0.0.1:{ports['capture']};
{indent(server_part)}
    }}
}}
"""


def cpu_seconds(names):
    """CPU time (user + system) used so far by the running processes with these names."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        if name in names:
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


def h2load(targets_file, body_file, requests, connections, log_file):
    if os.path.exists(log_file):
        os.unlink(log_file)
    out = subprocess.run(
        [H2LOAD, "--h1", "-n", str(requests), "-c", str(connections), "-m", "1",
         "-i", targets_file, "-d", body_file, "--log-file", log_file,
         "-H", "User-Agent: Apple-iPhone4C1/1002.146",
         "-H", "MS-ASProtocolVersion: 14.1",
         "-H", "Content-Type: application/vnd.ms-sync.wbxml",
         "-H", "Authorization: Basic YWxpY2U6cGFzc3dvcmQ="],
        capture_output=True, check=False)
    text = out.stdout.decode()
    if out.returncode != 0:
        sys.exit(f"h2load failed: {out.stderr.decode()}{text}")
    rps = float(text.split("finished in ")[1].split(", ")[1].split(" req/s")[0])
    statuses = {}
    latencies = []
    with open(log_file, encoding="utf-8") as f:
        for line in f:
            _, status, micros = line.split("\t")[:3]
            statuses[status] = statuses.get(status, 0) + 1
            latencies.append(int(micros))
    if set(statuses) != {"200"}:
        errors = os.path.join(os.path.dirname(log_file), "ngx", "logs", "error.log")
        with open(errors, encoding="utf-8", errors="replace") as f:
            tail = [l for l in f if 'no live upstreams' not in l and 'unexpected status' not in l][:6]
        sys.exit(f"not every request was answered 200: {statuses}; nginx's error log ends:\n"
                 + "".join(tail))
    latencies.sort()
    return rps, latencies[len(latencies) // 2] / 1000, latencies[len(latencies) * 99 // 100] / 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="fail when a target is missed")
    parser.add_argument("--state-store", default="sqlite",
                        help="state_store: sqlite (as shipped) or memory, to see what "
                             "durability costs")
    parser.add_argument("--gateway-cache", type=int, default=60,
                        help="http.gateway_cache_seconds (how long nginx may keep an answer "
                             "the change feed does not name)")
    parser.add_argument("--modes", default="straight,auth,capture",
                        help="which front ends to measure (comma-separated)")
    parser.add_argument("--perf", help="record the whole machine with perf into this file "
                                       "while measuring")
    args = parser.parse_args()
    if not all(os.path.exists(p) for p in (NGINX, H2LOAD, gateway_test.LUA_MODULE)):
        print("SKIP: nginx, its Lua module or h2load is missing (scripts/bootstrap)")
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="hijackguard-gwbench-")
    os.chmod(work, 0o755)
    hg = None
    nginx = None
    try:
        token = subprocess.run([args.binary, "auth", "new-token"], capture_output=True,
                               check=True).stdout.decode().strip()
        token_file = os.path.join(work, "gw.token")
        with open(token_file, "w", encoding="utf-8") as f:
            f.write(token + "\n")
        config = os.path.join(work, "config.json")
        with open(config, "w", encoding="utf-8") as f:
            json.dump({"listen": "127.0.0.1:0", "state_dir": os.path.join(work, "state"),
                       "state_store": args.state_store,
                       "http": {"listen": "127.0.0.1:0",
                                "gateway_cache_seconds": args.gateway_cache},
                       "auth": {"principals": [{
                           "id": "gw", "roles": ["gateway"], "tenants": [TENANT],
                           "token_sha256": hashlib.sha256(token.encode()).hexdigest()}]}}, f)
        hg = gateway_test.Hijackguard(args.binary, config)
        ports = {k: free_port() for k in ("upstream", "straight", "auth", "capture")}
        prefix = os.path.join(work, "ngx")
        snippet = subprocess.run(
            [args.binary, "gateway", "nginx-config", "--snippet",
             "--exchange", f"http://127.0.0.1:{ports['upstream']}",
             "--hijackguard", f"http://{hg.http}", "--tenant", TENANT,
             "--token-file", token_file, "--prefix", prefix],
            capture_output=True, check=True).stdout.decode()
        with open(os.path.join(prefix, "nginx.conf"), "w", encoding="utf-8") as f:
            f.write(nginx_conf(prefix, snippet, ports))
        nginx = subprocess.Popen([NGINX, "-p", prefix, "-c", "nginx.conf", "-g", "daemon off;"])
        time.sleep(1.5)  # nginx up, and its first read of the change feed done

        targets = os.path.join(work, "targets")
        with open(targets, "w", encoding="utf-8") as f:
            for i in range(args.devices):
                f.write(f"http://127.0.0.1:PORT/Microsoft-Server-ActiveSync?Cmd=Sync"
                        f"&User=user{i}%40example.com&DeviceId=ApplBENCH{i:06d}"
                        f"&DeviceType=iPhone\n")
        trace = os.path.join(args.source_dir, "examples", "traces", "ios612_accept.jsonl")
        with open(trace, encoding="utf-8") as f:
            first = json.loads(f.readline())
        body_file = os.path.join(work, "body")
        with open(body_file, "wb") as f:
            f.write(base64.b64decode(first["eas_exchange"]["request_body"]))

        def run(mode, requests, connections=args.connections):
            with open(targets, encoding="utf-8") as f:
                text = f.read().replace("PORT", str(ports[mode]))
            per_mode = os.path.join(work, f"targets-{mode}")
            with open(per_mode, "w", encoding="utf-8") as f:
                f.write(text)
            return h2load(per_mode, body_file, requests, connections,
                          os.path.join(work, f"log-{mode}"))

        # Every device decided once (a durable write each): then steady state.
        # One connection: h2load starts each connection at the list's top.
        run("auth", args.devices, connections=1)
        figures = {m: [] for m in args.modes.split(",")}
        perf = None
        if args.perf:
            perf = subprocess.Popen(["perf", "record", "-a", "-g", "-o", args.perf],
                                    stderr=subprocess.DEVNULL)
        cpu = {m: [] for m in figures}
        for _ in range(args.rounds):
            for mode in figures:
                servers = cpu_seconds({"nginx", "hijackguard"})
                client = resource.getrusage(resource.RUSAGE_CHILDREN)
                figures[mode].append(run(mode, args.requests))
                done = resource.getrusage(resource.RUSAGE_CHILDREN)
                used = (cpu_seconds({"nginx", "hijackguard"}) - servers
                        + done.ru_utime + done.ru_stime - client.ru_utime - client.ru_stime)
                cpu[mode].append(used * 1e6 / args.requests)
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
        med = {m: tuple(statistics.median(x[i] for x in v) for i in range(3))
               for m, v in figures.items()}
        print(f"gateway through nginx (h2load --h1, {args.connections} connections, "
              f"{args.requests} Sync requests over {args.devices} DeviceIds, medians of "
              f"{args.rounds} alternated rounds; hijackguard with SQLite state, "
              f"synchronous=full)")
        print(f"{'mode':<10}{'req/s':>10}{'ratio':>8}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'+p99 ms':>9}{'cpu us':>8}")
        for mode, (rps, p50, p99) in med.items():
            base = med.get("straight", (rps, p50, p99))
            print(f"{mode:<10}{rps:>10.0f}{rps / base[0]:>8.2f}{p50:>9.3f}"
                  f"{p99:>9.3f}{p99 - base[2]:>9.3f}{statistics.median(cpu[mode]):>8.1f}")
        print("cpu us: CPU time per request of nginx, hijackguard and h2load together")
        conn = http.client.HTTPConnection("127.0.0.1", ports["capture"], timeout=10)
        conn.request("GET", "/_hijackguard/stats")
        print(f"capture counters: {conn.getresponse().read().decode().strip()}")
        if args.check:
            auth_ratio = med["auth"][0] / med["straight"][0]
            capture_ratio = med["capture"][0] / med["straight"][0]
            added = med["auth"][2] - med["straight"][2]
            if auth_ratio < 0.8 or added >= 1.0 or capture_ratio < 0.6:
                sys.exit(f"targets missed: auth {auth_ratio:.2f} (>= 0.8), +p99 {added:.3f} ms "
                         f"(< 1), capture {capture_ratio:.2f} (>= 0.6)")
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(30)
        if hg is not None:
            hg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
