#!/usr/bin/env python3
"""StreamTraffic under h2load against the real binary in the shipped configuration, beside a bare
streaming echo.

Two servers run side by side on loopback:
  shipped  `hijackguard serve` with examples/hijackguard.json as shipped (SQLite state in a
           temporary directory, audit on, the default policy, development mode)
  echo     grpc_echo_server: hijackguard.bench.EchoBench/StreamEcho acknowledges every message
           without looking at it, with StreamTraffic's ack batching
Each h2load request is one stream: the same gRPC-framed body of --devices observations (client
Changes of calendar meetings, about 2.3 KiB each, written by `traffic_load --write-bodies`), whose
acks come back before the stream ends. hijackguard first receives the server's invitations of
those meetings (one stream), so that the changes are judged against its ledger. Runs alternate,
--rounds times each; the figures are medians: observations per second, p50 and p99 of a whole
stream, and the ratios to the echo.

h2load sees streams, not messages, and counts a stream that gRPC failed as a success: each
server's own counts (hijackguard's `StreamTraffic N OK M failed (X messages OK, Y with item
errors)` log line, the echo's `echo answered N calls`) are compared with what was sent, and a
difference, or any message with item errors, fails the run.

With --check the run fails when the target is missed (throughput >= 0.9 of the echo's).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkin_h2load import H2LOAD, Server, h2load, start_hijackguard  # noqa: E402

STREAM_PATH = "/hijackguard.v1.CompliancePlugin/StreamTraffic"
ECHO_PATH = "/hijackguard.bench.EchoBench/StreamEcho"


def stream_counts(log):
    """hijackguard's count of StreamTraffic streams and messages, from its log when it stopped."""
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            if "unary calls answered:" in line:
                m = re.search(r"StreamTraffic (\d+) OK (\d+) failed \((\d+) messages OK, (\d+) "
                              r"with item errors\)", line)
                return tuple(int(g) for g in m.groups()) if m else (0, 0, 0, 0)
    sys.exit(f"no 'unary calls answered' line in {log}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True, help="the hijackguard binary")
    parser.add_argument("--echo", required=True, help="the grpc_echo_server binary")
    parser.add_argument("--traffic-load", required=True, help="the traffic_load binary")
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--devices", type=int, default=100, help="observations per stream")
    parser.add_argument("--requests", type=int, default=400, help="streams per run")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="fail when the target is missed")
    args = parser.parse_args()
    if not os.path.exists(H2LOAD):
        print(f"skipped: {H2LOAD} is not installed")
        sys.exit(77)

    work = tempfile.mkdtemp(prefix="hg-traffic-h2load-")
    try:
        subprocess.run([args.traffic_load, "--write-bodies", work, "--devices", str(args.devices)],
                       check=True, capture_output=True)
        adds = os.path.join(work, "adds.grpc")
        changes = os.path.join(work, "changes.grpc")
        shipped, headers = start_hijackguard(args, work, "shipped", False)
        setup = argparse.Namespace(**{**vars(args), "requests": 1, "connections": 1,
                                      "streams": 1})
        h2load(shipped.address, STREAM_PATH, adds, setup, os.path.join(work, "h2load.log"),
               headers)
        empty = os.path.join(work, "empty.json")
        with open(empty, "w", encoding="utf-8") as f:
            f.write("{}")
        echo = Server([args.echo, "--response-json", empty], "echo serving on ",
                      os.path.join(work, "echo.log"))
        targets = [("echo", echo.address, ECHO_PATH, []),
                   ("shipped", shipped.address, STREAM_PATH, headers)]
        results = {name: [] for name, *_ in targets}
        for _ in range(args.rounds):
            for name, address, path, extra in targets:
                results[name].append(
                    h2load(address, path, changes, args, os.path.join(work, "h2load.log"), extra))

        problems = []
        expected = args.requests * args.rounds
        printed = echo.stop()
        m = re.search(r"echo answered (\d+) calls", printed)
        if not m or int(m.group(1)) != expected:
            problems.append(f"the echo answered {printed.strip()!r}; h2load counted {expected}")
        shipped.stop()
        ok, failed, messages, with_errors = stream_counts(shipped.log)
        if ok != expected + 1 or failed != 0:
            problems.append(f"shipped: {ok} streams OK and {failed} failed; h2load counted "
                            f"{expected} (+1 set-up stream)")
        if messages != (expected + 1) * args.devices or with_errors != 0:
            problems.append(f"shipped: {messages} messages OK and {with_errors} with item "
                            f"errors; {(expected + 1) * args.devices} were sent")

        per_stream = args.devices
        echo_rate = statistics.median(r["rps"] for r in results["echo"]) * per_stream
        print(f"h2load -n {args.requests} -c {args.connections} -m {args.streams}, "
              f"{args.rounds} alternated rounds, medians; each stream "
              f"{per_stream} observations, {os.path.getsize(changes)} bytes")
        print(f"{'server':<10}{'obs/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}"
              f"   runs (obs/s)")
        for name, *_ in targets:
            rate = statistics.median(r["rps"] for r in results[name]) * per_stream
            p50 = statistics.median(r["p50"] for r in results[name])
            p99 = statistics.median(r["p99"] for r in results[name])
            runs = " ".join(f"{r['rps'] * per_stream:.0f}" for r in results[name])
            print(f"{name:<10}{rate:>10.0f}{p50:>9.2f}{p99:>9.2f}{rate / echo_rate:>8.2f}"
                  f"   {runs}")
            if name != "echo" and args.check and rate < 0.9 * echo_rate:
                problems.append(f"{name}: {rate / echo_rate:.2f} of the echo's throughput "
                                "(target >= 0.9)")
        for p in problems:
            print(f"FAIL: {p}")
        sys.exit(1 if problems else 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
