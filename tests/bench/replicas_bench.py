#!/usr/bin/env python3
"""The state on PostgreSQL against SQLite, and two replicas against one, under h2load.

Every server is the real binary in the shipped configuration (examples/hijackguard.json: audit on,
the default policy), its state either in SQLite (as shipped) or in a database of a throwaway
PostgreSQL 15 cluster (pg_throwaway: Unix socket, SCRAM password). Each round runs these phases
one after the other, each on a fresh state, in an order rotated by one every round (so that no
phase always follows the same one and inherits its background work):

  checkin sqlite       one server on SQLite; CheckIn from h2load, one h2load per device
  checkin postgres     the same on PostgreSQL
  checkin postgres x2  two replicas on one database, each device's calls to one of them (device
                       affinity, as the gateway's hashed upstream gives): device i to replica i % 2
  traffic sqlite       one server on SQLite; StreamTraffic from h2load, each stream --observations
                       client Changes of meetings the server sent first (traffic_load's bodies)
  traffic postgres     the same on PostgreSQL

The figures are medians over --rounds: OK calls (observations for traffic) per second, and per
CPU-second, where the CPU is the user and system time, read from /proc, of the hijackguard
processes and, on PostgreSQL, of the postmaster and every backend (children it reaped included);
"PG %" is PostgreSQL's share of it.
h2load's own CPU is not counted. Each server's own count of OK calls (its `unary calls answered`
line when it stops) must equal what h2load sent, else the run fails.

On a two-core machine two replicas cannot show more throughput than one; the cost per call can
show whether a second replica (and the reads and writes a shared store makes) wastes work: the
ratio of the two replicas' OK calls per CPU-second to one replica's, target >= 0.8 (--check fails
the run below it).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkin_h2load import (H2LOAD, PROTOC, Server, encode_request,  # noqa: E402
                            free_port, grpc_frame, h2load, served_ok)
from traffic_h2load import STREAM_PATH, stream_counts  # noqa: E402

CHECKIN_PATH = "/hijackguard.v1.CompliancePlugin/CheckIn"
TICK = os.sysconf("SC_CLK_TCK")


def encode_checkin(source_dir, device):
    """A gRPC-framed CheckInRequest of `device` (its own user and MDM id)."""
    return grpc_frame(encode_request(source_dir, device, f"{device}@example.com",
                                     f"mdm-{device}"))


def proc_cpu(pid, children=False):
    """User + system seconds of a process (with children=True, also of its reaped children)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    # fields[0] is the state (field 3); utime, stime, cutime, cstime are fields 14-17.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def postgres_cpu(postmaster):
    """The postmaster's CPU, its reaped children's, and every live child's."""
    total = proc_cpu(postmaster, children=True)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


class Cluster:
    """pg_throwaway: a cluster kept while its standard input is open."""

    def __init__(self, tool, databases):
        self.process = subprocess.Popen([tool, "--databases", ",".join(databases)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.process.stdout.readline()
        if not line:
            if self.process.wait() == 77:
                print("skipped: PostgreSQL's server is not installed")
                sys.exit(77)
            sys.exit("pg_throwaway did not start a cluster")
        info = json.loads(line)
        self.dsn = info["dsn"]
        self.password_file = info["password_file"]
        self.postmaster = int(info["postmaster_pid"])
        with open(f"/proc/{self.postmaster}/comm", encoding="ascii") as f:
            if f.read().strip() != "postgres":
                sys.exit(f"pid {self.postmaster} is not PostgreSQL's postmaster")
        self.free = list(databases)

    def take(self):
        return self.free.pop(0)

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


def start_servers(args, work, name, count, cluster):
    """`count` servers as shipped; on PostgreSQL (cluster given) sharing one fresh database."""
    with open(os.path.join(args.source_dir, "examples", "hijackguard.json"), encoding="utf-8") as f:
        shipped = json.load(f)
    database = cluster.take() if cluster else None
    servers = []
    for i in range(count):
        config = dict(shipped)
        config["listen"] = f"127.0.0.1:{free_port()}"
        config["catalog"] = os.path.join(args.source_dir, shipped["catalog"])
        config["policy"] = os.path.join(args.source_dir, shipped["policy"])
        config["state_dir"] = os.path.join(work, f"{name}-{i}")
        if cluster:
            config["state_store"] = "postgres"
            config["postgres"] = {"dsn": cluster.dsn[database],
                                  "password_file": cluster.password_file}
            # Every replica of a database holds the same audit key.
            config["audit"] = {**config.get("audit", {}),
                               "key_file": os.path.join(work, f"{name}.key")}
        path = os.path.join(work, f"{name}-{i}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f)
        servers.append(Server([args.binary, "serve", "--config", path], "serving on ",
                              os.path.join(work, f"{name}-{i}.log")))
    return servers


def cpu_of(servers, cluster):
    """(hijackguard's CPU seconds, PostgreSQL's)."""
    return (sum(proc_cpu(s.process.pid) for s in servers),
            postgres_cpu(cluster.postmaster) if cluster else 0.0)


def cpu_since(before, servers, cluster):
    now = cpu_of(servers, cluster)
    return now[0] - before[0], now[1] - before[1]


def run_loads(loads, work):
    """Runs the h2loads (address, path, body, args) at once; returns their results and the time."""
    results = [None] * len(loads)

    def one(i, address, path, body, load_args):
        results[i] = h2load(address, path, body, load_args, os.path.join(work, f"h2load-{i}.log"),
                            [])

    threads = [threading.Thread(target=one, args=(i, *load)) for i, load in enumerate(loads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if any(r is None for r in results):
        sys.exit("an h2load run failed")
    return results


def checkin_phase(args, work, name, replicas, cluster, bodies):
    servers = start_servers(args, work, name, replicas, cluster)
    per_device = max(1, args.requests // len(bodies))
    load_args = argparse.Namespace(requests=per_device, connections=1, streams=args.streams)
    warm = argparse.Namespace(requests=1, connections=1, streams=1)
    # Each device's first check-in (its decision changes), outside the measure.
    run_loads([(servers[i % replicas].address, CHECKIN_PATH, body, warm)
               for i, body in enumerate(bodies)], work)
    cpu0 = cpu_of(servers, cluster)
    results = run_loads([(servers[i % replicas].address, CHECKIN_PATH, body, load_args)
                         for i, body in enumerate(bodies)], work)
    hg_cpu, pg_cpu = cpu_since(cpu0, servers, cluster)
    cpu = hg_cpu + pg_cpu
    ok = 0
    for s in servers:
        s.stop()
        answered, failed = served_ok(s.log)
        if failed:
            sys.exit(f"{name}: {failed} check-ins failed (see {s.log})")
        ok += answered
    sent = per_device * len(bodies)
    if ok != sent + len(bodies):
        sys.exit(f"{name}: the servers answered {ok} check-ins OK; h2load sent {sent} "
                 f"(+{len(bodies)} warm-up)")
    seconds = max(r["calls"] / r["rps"] for r in results)
    return {"rate": sent / seconds, "per_cpu": sent / cpu, "cpu": cpu,
            "pg_share": pg_cpu / cpu}


def traffic_phase(args, work, name, cluster, adds, changes):
    (server,) = start_servers(args, work, name, 1, cluster)
    setup = argparse.Namespace(requests=1, connections=1, streams=1)
    run_loads([(server.address, STREAM_PATH, adds, setup)], work)
    load_args = argparse.Namespace(requests=args.streams_per_run, connections=2,
                                   streams=args.streams)
    cpu0 = cpu_of([server], cluster)
    (result,) = run_loads([(server.address, STREAM_PATH, changes, load_args)], work)
    hg_cpu, pg_cpu = cpu_since(cpu0, [server], cluster)
    cpu = hg_cpu + pg_cpu
    server.stop()
    ok, failed, messages, with_errors = stream_counts(server.log)
    expected = args.streams_per_run + 1
    if ok != expected or failed or with_errors or messages != expected * args.observations:
        sys.exit(f"{name}: {ok} streams OK, {failed} failed, {messages} messages OK, "
                 f"{with_errors} with item errors; {expected} streams of "
                 f"{args.observations} were sent")
    observations = args.streams_per_run * args.observations
    seconds = result["calls"] / result["rps"]
    return {"rate": observations / seconds, "per_cpu": observations / cpu, "cpu": cpu,
            "pg_share": pg_cpu / cpu}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True, help="the hijackguard binary")
    parser.add_argument("--pg-throwaway", required=True, help="the pg_throwaway binary")
    parser.add_argument("--traffic-load", required=True, help="the traffic_load binary")
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--devices", type=int, default=8, help="CheckIn devices (h2loads)")
    parser.add_argument("--requests", type=int, default=8000, help="check-ins per run")
    parser.add_argument("--streams", type=int, default=8, help="h2load -m")
    parser.add_argument("--observations", type=int, default=50, help="observations per stream")
    parser.add_argument("--streams-per-run", type=int, default=80, help="StreamTraffic streams")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="fail when the target is missed")
    args = parser.parse_args()
    for tool in (H2LOAD, PROTOC):
        if not os.path.exists(tool):
            print(f"skipped: {tool} is not installed")
            sys.exit(77)

    work = tempfile.mkdtemp(prefix="hg-replicas-bench-")
    cluster = None
    try:
        databases = [f"bench{i}" for i in range(3 * args.rounds)]
        cluster = Cluster(args.pg_throwaway, databases)
        bodies = []
        for d in range(args.devices):
            path = os.path.join(work, f"checkin-{d}.grpc")
            with open(path, "wb") as f:
                f.write(encode_checkin(args.source_dir, f"ApplBENCH{d:04d}"))
            bodies.append(path)
        subprocess.run([args.traffic_load, "--write-bodies", work, "--devices",
                        str(args.observations)], check=True, capture_output=True)
        adds = os.path.join(work, "adds.grpc")
        changes = os.path.join(work, "changes.grpc")

        phases = [
            ("checkin sqlite", lambda n: checkin_phase(args, work, n, 1, None, bodies)),
            ("checkin postgres", lambda n: checkin_phase(args, work, n, 1, cluster, bodies)),
            ("checkin postgres x2", lambda n: checkin_phase(args, work, n, 2, cluster, bodies)),
            ("traffic sqlite", lambda n: traffic_phase(args, work, n, None, adds, changes)),
            ("traffic postgres", lambda n: traffic_phase(args, work, n, cluster, adds, changes)),
        ]
        results = {name: [] for name, _ in phases}
        for r in range(args.rounds):
            for name, run in phases[r % len(phases):] + phases[:r % len(phases)]:
                results[name].append(run(f"{name.replace(' ', '-')}-{r}"))

        print(f"{args.rounds} rounds, phase order rotated, medians; CheckIn: {args.devices} devices, "
              f"{args.requests} calls a run (h2load -c 1 -m {args.streams} per device); "
              f"StreamTraffic: {args.streams_per_run} streams of {args.observations} observations "
              f"(h2load -c 2 -m {args.streams})")
        print(f"{'phase':<22}{'OK/s':>9}{'OK/CPU-s':>10}{'CPU-s':>8}{'PG %':>6}"
              "   runs (OK/s; OK/CPU-s)")
        median = {}
        for name, _ in phases:
            rate = statistics.median(x["rate"] for x in results[name])
            per_cpu = statistics.median(x["per_cpu"] for x in results[name])
            cpu = statistics.median(x["cpu"] for x in results[name])
            pg_share = statistics.median(x["pg_share"] for x in results[name])
            median[name] = (rate, per_cpu)
            runs = " ".join(f"{x['rate']:.0f};{x['per_cpu']:.0f}" for x in results[name])
            print(f"{name:<22}{rate:>9.0f}{per_cpu:>10.0f}{cpu:>8.2f}{pg_share * 100:>6.0f}"
                  f"   {runs}")
        problems = []
        print("ratios (medians):")
        for a, b in [("checkin postgres", "checkin sqlite"), ("traffic postgres", "traffic sqlite")]:
            print(f"  {a} / {b}: throughput {median[a][0] / median[b][0]:.2f}, "
                  f"per CPU-second {median[a][1] / median[b][1]:.2f}")
        scale = median["checkin postgres x2"][1] / median["checkin postgres"][1]
        print(f"  two replicas / one, OK calls per CPU-second: {scale:.2f} (target >= 0.8)")
        if args.check and scale < 0.8:
            problems.append(f"two replicas do {scale:.2f} of one's OK calls per CPU-second")
        for p in problems:
            print(f"FAIL: {p}")
        sys.exit(1 if problems else 0)
    finally:
        if cluster:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
