#!/usr/bin/env python3
"""The command blocks of README.md and docs/*.md, run as a reader would run them.

Every ```console block is run in order, file by file (README.md first, then docs/ sorted), in one
temporary directory that looks like a checkout: `build/bin` is the built binary's directory (also
first on PATH, for blocks that say just `hijackguard`), and `examples/`, `detector/`, `tests/` and
`docs/` are the source tree's. A plugin serves there first, as `scripts/run` serves it
(examples/hijackguard.json, state in ./var, pid in var/hijackguard.pid), on a free port that replaces 127.0.0.1:50051 in the
commands.

A block is lines of `$ command` (or `# command`, a root prompt), with `\\` continuing a command
onto the next line, each followed by the output it shows. The output shown must match what the
command prints (standard output and error together), white space ignored, where `...` or `…`
matches anything; a command that shows no output is only run, and must exit 0 unless the block
says otherwise in what it shows (`echo "exit $?"`).

A block that cannot run here (it needs a placeholder host, root, or runs for minutes) is marked
`<!-- no-run: reason -->` on the line before it; NO_RUN lists those blocks by file and first
command, so that marking one is a visible change to this test too.
"""
import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# Blocks that are not run: (file, start of the first command) -> why.
NO_RUN = {
    ("README.md", "(umask 077; build/bin/hijackguard auth new-token > mdm.token)"):
        "its last command names a placeholder server and CA",
    ("docs/gateway.md", "build/bin/hijackguard gateway nginx-config --snippet"):
        "writes into /etc/nginx as root",
    ("docs/gateway.md", "awk -v d=/etc/nginx/hijackguard"):
        "writes into /etc/nginx as root",
    ("docs/gateway.md", "grep -E 'evaluated=(QUARANTINE|BLOCK)'"):
        "reads a production nginx log",
    ("docs/gateway.md", "curl -s --resolve mail.example.com:443:127.0.0.1"):
        "asks a production gateway",
    ("docs/gateway.md", "/usr/bin/python3 tests/bench/gateway_bench.py"):
        "a benchmark of several minutes (run by hand)",
    ("docs/state.md", "build/bin/fleet_state generate --dir /tmp/hg-fleet --source-dir ."):
        "generating the state takes five minutes and 10 GB of disk",
    ("docs/security.md", "(umask 077; build/bin/hijackguard auth new-token > mdm-prod.token)"):
        "its last command names a placeholder server and CA",
    ("docs/security.md", "sed -n 's/.* audit checkpoint //p' hijackguard.log"):
        "reads a production server's log and key",
}

SERVED = "127.0.0.1:50051"


class Block:
    def __init__(self, path, line, text, no_run):
        self.path, self.line, self.no_run = path, line, no_run
        self.steps = []  # (command, expected output lines)
        command = None
        for raw in text.splitlines():
            if command is not None and command.endswith("\\"):
                command = command + "\n" + raw
                self.steps[-1] = (command, [])
                continue
            if raw.startswith("$ ") or raw.startswith("# "):
                command = raw[2:]
                self.steps.append((command, []))
            elif self.steps:
                self.steps[-1][1].append(raw)

    def key(self):
        first = self.steps[0][0] if self.steps else ""
        return first.split("\n")[0].rstrip("\\ ")


def listed(block):
    """The NO_RUN entry of a block: its file, and the start of its first command."""
    for entry in NO_RUN:
        if entry[0] == block.path and block.key().startswith(entry[1]):
            return entry
    return None


def blocks_of(source, path):
    text = open(os.path.join(source, path), encoding="utf-8").read()
    found = []
    for m in re.finditer(r"(<!-- no-run: ([^>]*?) -->\n)?```console\n(.*?)```", text, re.S):
        line = text[:m.start(3)].count("\n")
        found.append(Block(path, line, m.group(3), m.group(2)))
    return found


def pattern_of(expected):
    """A regular expression for the shown output: white space dropped, ... and … wild."""
    squeezed = re.sub(r"\s+", "", "\n".join(expected))
    parts = re.split(r"\.\.\.|…", squeezed)
    return re.compile(".*".join(re.escape(p) for p in parts), re.S)


def start_server(work, env):
    server = subprocess.Popen(
        ["build/bin/hijackguard", "serve", "--config", "examples/hijackguard.json",
         "--listen", "127.0.0.1:0", "--state", "./var", "--pid-file", "var/hijackguard.pid"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=open(os.path.join(work, "serve.log"), "wb"),
        start_new_session=True)
    line = server.stdout.readline().decode()
    if "serving on " not in line:
        server.kill()
        sys.exit(f"FAIL: the plugin did not start: {line!r}; see serve.log")
    return server, line.split("serving on ")[1].split()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--source-dir", required=True)
    args = parser.parse_args()
    source = os.path.abspath(args.source_dir)
    files = ["README.md"] + sorted(os.path.relpath(p, source)
                                   for p in glob.glob(os.path.join(source, "docs", "*.md")))
    blocks = [b for f in files for b in blocks_of(source, f)]

    failures = []
    marked = [b for b in blocks if b.no_run is not None]
    for b in marked:
        if listed(b) is None:
            failures.append(f"{b.path}:{b.line}: block `{b.key()}` is marked no-run "
                            f"({b.no_run}) but not listed in NO_RUN")
    for entry in NO_RUN:
        if not any(listed(b) == entry for b in marked):
            failures.append(f"{entry[0]}: NO_RUN lists `{entry[1]}`, which is not a no-run block")

    work = tempfile.mkdtemp(prefix="hijackguard-docs-")
    os.makedirs(os.path.join(work, "build"))
    os.symlink(os.path.dirname(os.path.abspath(args.binary)), os.path.join(work, "build", "bin"))
    for name in ("examples", "detector", "tests", "docs", "proto"):
        os.symlink(os.path.join(source, name), os.path.join(work, name))
    env = dict(os.environ)
    env["PATH"] = os.path.join(work, "build", "bin") + os.pathsep + env.get("PATH", "")
    env.pop("HIJACKGUARD_TOKEN", None)
    server, address = start_server(work, env)
    ran = 0
    try:
        for block in blocks:
            # A listed block is never run, marked or not: it may write outside the work
            # directory.
            if block.no_run is not None or listed(block) is not None:
                continue
            for command, expected in block.steps:
                where = f"{block.path}:{block.line}: `{command.splitlines()[0]}`"
                run = subprocess.run(["bash", "-o", "pipefail", "-c",
                                      command.replace(SERVED, address)],
                                     cwd=work, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, timeout=120)
                ran += 1
                out = run.stdout.decode(errors="replace")
                shows_exit = "exit $?" in command
                if run.returncode != 0 and not shows_exit:
                    failures.append(f"{where} exited {run.returncode}:\n{out}")
                elif expected and not pattern_of(expected).fullmatch(re.sub(r"\s+", "", out)):
                    failures.append(f"{where} printed what the doc does not show:\n"
                                    f"--- shown\n" + "\n".join(expected) + f"\n--- printed\n{out}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if failures:
            print(f"(work directory kept: {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print(f"FAIL: {f}\n")
    print(f"{ran} commands in {sum(1 for b in blocks if b.no_run is None)} blocks run; "
          f"{len(marked)} blocks marked no-run; {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
