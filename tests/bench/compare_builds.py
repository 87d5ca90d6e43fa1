#!/usr/bin/env python3
"""Compares the benchmarks of two builds side by side in one run.

For each round, the old build's and the new build's checkin_load (--audit:
CheckIn with state in memory and with a SQLite state and audit log),
traffic_load (--durable: StreamTraffic with state in memory and in SQLite)
and traffic_bench (BM_DecodeAndDetect, one observation's detection) run
alternately, old first in odd rounds and new first in even ones, so that the
machine's drift hits both alike. Prints each figure's median per build and
the ratio new/old.

  tests/bench/compare_builds.py OLD_BIN_DIR NEW_BIN_DIR [--rounds 5]

OLD_BIN_DIR and NEW_BIN_DIR hold checkin_load, traffic_load and traffic_bench
of release builds (e.g. a worktree of the earlier commit built with
`cmake --preset release && cmake --build --preset release --target
checkin_load traffic_load traffic_bench`).
"""

import argparse
import re
import statistics
import subprocess
import sys


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         timeout=900).stdout
    return out


def checkin(bin_dir, duration_ms):
    out = run([f"{bin_dir}/checkin_load", "--audit", "--concurrency", "16",
               "--repetitions", "1", "--duration-ms", str(duration_ms)])
    figures = {}
    for line in out.splitlines():
        m = re.match(r"16\s+(memory|audited)\s+(\d+)\s+([\d.]+)\s+([\d.]+)",
                     line)
        if m:
            figures[f"checkin {m.group(1)} QPS"] = float(m.group(2))
            figures[f"checkin {m.group(1)} p99 us"] = float(m.group(4))
    return figures


def traffic(bin_dir, observations):
    out = run([f"{bin_dir}/traffic_load", "--durable", "--repetitions", "1",
               "--observations", str(observations)])
    figures = {}
    for line in out.splitlines():
        m = re.match(r"(StreamTraffic|durable)\s+(\d+)\s+([\d.]+)", line)
        if m:
            name = "memory" if m.group(1) == "StreamTraffic" else "durable"
            figures[f"traffic {name} obs/s"] = float(m.group(2))
    return figures


def detect(bin_dir):
    out = run([f"{bin_dir}/traffic_bench",
               "--benchmark_filter=BM_DecodeAndDetect$",
               "--benchmark_min_time=1"])
    for line in out.splitlines():
        m = re.match(r"BM_DecodeAndDetect\s+\d+ ns\s+(\d+) ns", line)
        if m:
            return {"traffic_bench DecodeAndDetect cpu ns": float(m.group(1))}
    return {}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration-ms", type=int, default=3000)
    parser.add_argument("--observations", type=int, default=100000)
    args = parser.parse_args()
    samples = {"old": {}, "new": {}}
    for r in range(args.rounds):
        order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
        for which in order:
            bin_dir = getattr(args, which)
            figures = {}
            figures.update(checkin(bin_dir, args.duration_ms))
            figures.update(traffic(bin_dir, args.observations))
            figures.update(detect(bin_dir))
            for k, v in figures.items():
                samples[which].setdefault(k, []).append(v)
            print(f"round {r + 1} {which}: " +
                  ", ".join(f"{k} {v:.0f}" for k, v in figures.items()),
                  flush=True)
    print(f"\nmedians of {args.rounds} rounds, builds alternating")
    print(f"{'figure':40} {'old':>10} {'new':>10} {'new/old':>8}")
    for k in samples["old"]:
        old = statistics.median(samples["old"][k])
        new = statistics.median(samples["new"].get(k, [float("nan")]))
        print(f"{k:40} {old:10.0f} {new:10.0f} {new / old:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
