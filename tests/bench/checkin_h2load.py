#!/usr/bin/env python3
"""CheckIn under h2load against the real binary in the shipped configuration, beside a bare gRPC echo.

Two servers run side by side on loopback:
  hijackguard  `hijackguard serve` with examples/hijackguard.json as shipped (SQLite state in a
               temporary directory, audit on, the default policy, development mode), or with
               --auth, the same with bearer-token authentication (an mdm principal)
  echo         grpc_echo_server: hijackguard.bench.EchoBench/Echo parses the same CheckInRequest
               and answers a fixed CheckInResponse of the size hijackguard answers
h2load sends the same gRPC-framed request to each (-n requests, -c connections, -m streams per
connection): one device whose decision does not change after its first check-in, the path most
check-ins take. Runs alternate between the servers, --rounds times each; the figures are medians:
calls per second, p50 and p99 latency (from h2load's --log-file), and the ratios to the echo.

h2load counts a call that gRPC failed (HTTP 200 with a non-zero grpc-status) as a success, so each
server's own count of OK calls (hijackguard's `stopped; unary calls answered` log line, the echo's
`echo answered N calls`) is compared with h2load's and a difference fails the run.

With --check the run fails when the targets are missed (throughput >= 0.9 of the echo's, p99 <= 1.5x).
"""

import argparse
import json
import os
import re
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile

H2LOAD = "/usr/bin/h2load"
PROTOC = "/usr/bin/protoc"
TENANT = "acme"
DEVICE = "ApplDMPFXZABDFHW"
USER_AGENT = "Apple-iPhone4C1/1001.403"
USER = "alice@example.com"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process that prints its address on its first line of standard output."""

    def __init__(self, args, marker, log):
        self.log = log
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(log, "ab"))
        fd = self.process.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        text = b""
        while b"\n" not in text:
            if not sel.select(30):
                sys.exit(f"{args[0]} printed {text!r} and nothing more in 30 s")
            chunk = os.read(fd, 4096)
            if not chunk:
                sys.exit(f"{args[0]} did not start: {text!r}; see {log}")
            text += chunk
        line = text.decode().splitlines()[0]
        if marker not in line:
            sys.exit(f"unexpected first line {line!r} from {args[0]}")
        self.address = line.split(marker)[1].split(" ")[0]

    def stop(self):
        """Stops the server; returns what it printed on stdout after its first line."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=60)
        return out.decode()


def grpc_frame(message):
    return b"\0" + struct.pack(">I", len(message)) + message


def encode_request(source_dir, device=DEVICE, user=USER, mdm_id="mdm-1"):
    text = f"""
tenant_id: "{TENANT}"
device {{ eas_device_id: "{device}" mdm_device_id: "{mdm_id}" user_principal: "{user}" }}
eas {{ user_agent: "{USER_AGENT}" device_type: "iPhone" device_model: "iPhone4C1"
      protocol_version: "14.1" }}
inventory {{ product_name: "iPhone4,1" os_version: "6.0" build_version: "10A403" }}
"""
    out = subprocess.run(
        [PROTOC, "--encode=hijackguard.v1.CheckInRequest", "-I", os.path.join(source_dir, "proto"),
         "hijackguard/v1/compliance_plugin.proto"],
        input=text.encode(), capture_output=True, check=False)
    if out.returncode != 0:
        sys.exit(f"protoc --encode failed: {out.stderr.decode()}")
    return out.stdout


def h2load(address, path, body_file, args, log_file, headers):
    if os.path.exists(log_file):
        os.unlink(log_file)
    command = [H2LOAD, "-n", str(args.requests), "-c", str(args.connections),
               "-m", str(args.streams), "-d", body_file, "--log-file", log_file,
               "-H", "content-type: application/grpc", "-H", "te: trailers"]
    for h in headers:
        command += ["-H", h]
    out = subprocess.run(command + [f"http://{address}{path}"], capture_output=True, check=False)
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
    if set(statuses) != {"200"} or len(latencies) != args.requests:
        sys.exit(f"not every call was answered with HTTP 200: {statuses}")
    latencies.sort()
    return {"rps": rps, "p50": latencies[len(latencies) // 2] / 1000,
            "p99": latencies[len(latencies) * 99 // 100] / 1000, "calls": len(latencies)}


def start_hijackguard(args, work, name, auth):
    """hijackguard as shipped: examples/hijackguard.json, its state under `work`/`name`."""
    with open(os.path.join(args.source_dir, "examples", "hijackguard.json"), encoding="utf-8") as f:
        config = json.load(f)
    config["listen"] = f"127.0.0.1:{free_port()}"
    config["catalog"] = os.path.join(args.source_dir, config["catalog"])
    config["policy"] = os.path.join(args.source_dir, config["policy"])
    config["state_dir"] = os.path.join(work, name)
    headers = []
    if auth:
        token = subprocess.run([args.binary, "auth", "new-token"], capture_output=True,
                               check=True).stdout.decode().strip()
        digest = subprocess.run([args.binary, "auth", "hash-token"], input=token.encode(),
                                capture_output=True, check=True).stdout.decode().strip()
        config["auth"] = {"principals": [{"id": "mdm", "token_sha256": digest,
                                          "roles": ["mdm"], "tenants": [TENANT]}]}
        headers = [f"authorization: Bearer {token}"]
    path = os.path.join(work, f"{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    server = Server([args.binary, "serve", "--config", path], "serving on ",
                    os.path.join(work, f"{name}.log"))
    return server, headers


def served_ok(log):
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            if "unary calls answered:" in line:
                m = re.search(r"CheckIn (\d+) OK (\d+) failed", line)
                return (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    sys.exit(f"no 'unary calls answered' line in {log}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True, help="the hijackguard binary")
    parser.add_argument("--echo", required=True, help="the grpc_echo_server binary")
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--requests", type=int, default=40000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--auth", action="store_true", help="also measure with token auth")
    parser.add_argument("--check", action="store_true", help="fail when a target is missed")
    args = parser.parse_args()
    for tool in (H2LOAD, PROTOC):
        if not os.path.exists(tool):
            print(f"skipped: {tool} is not installed")
            sys.exit(77)

    work = tempfile.mkdtemp(prefix="hg-checkin-h2load-")
    try:
        body = os.path.join(work, "request.bin")
        with open(body, "wb") as f:
            f.write(grpc_frame(encode_request(args.source_dir)))
        modes = [("shipped", False)] + ([("shipped+token", True)] if args.auth else [])
        servers = {}
        for name, auth in modes:
            servers[name] = start_hijackguard(args, work, name, auth)
        # The echo answers what hijackguard answers this device.
        first, headers = servers[modes[0][0]]
        response = subprocess.run(
            [args.binary, "checkin", "--server", first.address, "--json", "--tenant", TENANT,
             "--device-id", DEVICE, "--user-agent", USER_AGENT, "--user", USER],
            capture_output=True, check=False)
        if response.returncode != 0:
            sys.exit(f"checkin failed: {response.stderr.decode()}")
        response_json = os.path.join(work, "response.json")
        with open(response_json, "wb") as f:
            f.write(response.stdout)
        echo = Server([args.echo, "--response-json", response_json], "echo serving on ",
                      os.path.join(work, "echo.log"))
        targets = [("echo", echo.address, "/hijackguard.bench.EchoBench/Echo", [])]
        for name, _ in modes:
            server, headers = servers[name]
            targets.append((name, server.address, "/hijackguard.v1.CompliancePlugin/CheckIn",
                            headers))
        results = {name: [] for name, *_ in targets}
        for _ in range(args.rounds):
            for name, address, path, headers in targets:
                results[name].append(
                    h2load(address, path, body, args, os.path.join(work, "h2load.log"), headers))

        problems = []
        printed = echo.stop()
        m = re.search(r"echo answered (\d+) calls", printed)
        expected = args.requests * args.rounds
        if not m or int(m.group(1)) != expected:
            problems.append(f"the echo answered {printed.strip()!r}; h2load counted {expected}")
        for name, _ in modes:
            server, _ = servers[name]
            server.stop()
            ok, failed = served_ok(server.log)
            # The first check-in (made above for the echo's answer) is not h2load's.
            seen = expected + (1 if name == modes[0][0] else 0)
            if ok != seen or failed != 0:
                problems.append(f"{name}: the server answered {ok} OK and {failed} failed; "
                                f"h2load counted {expected} (+1 set-up call)")

        echo_rps = statistics.median(r["rps"] for r in results["echo"])
        echo_p99 = statistics.median(r["p99"] for r in results["echo"])
        print(f"h2load -n {args.requests} -c {args.connections} -m {args.streams}, "
              f"{args.rounds} alternated rounds, medians; request {os.path.getsize(body) - 5} "
              f"bytes, response {len(response.stdout)} bytes of JSON")
        print(f"{'server':<16}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}{'p99 x':>8}"
              f"   runs (calls/s)")
        for name, *_ in targets:
            rps = statistics.median(r["rps"] for r in results[name])
            p50 = statistics.median(r["p50"] for r in results[name])
            p99 = statistics.median(r["p99"] for r in results[name])
            runs = " ".join(f"{r['rps']:.0f}" for r in results[name])
            print(f"{name:<16}{rps:>10.0f}{p50:>9.2f}{p99:>9.2f}{rps / echo_rps:>8.2f}"
                  f"{p99 / echo_p99:>8.2f}   {runs}")
            if name != "echo" and args.check:
                if rps < 0.9 * echo_rps:
                    problems.append(f"{name}: {rps / echo_rps:.2f} of the echo's throughput "
                                    "(target >= 0.9)")
                if p99 > 1.5 * echo_p99:
                    problems.append(f"{name}: p99 {p99 / echo_p99:.2f}x the echo's "
                                    "(target <= 1.5)")
        for p in problems:
            print(f"FAIL: {p}")
        sys.exit(1 if problems else 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
