"""What the operations tests share: failing with a message, running a command, and a
`hijackguard serve` started from a configuration with its log in a file."""

import os
import re
import selectors
import signal
import subprocess
import sys


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False,
                          **kwargs)


class Server:
    """`hijackguard serve --config CONFIG` with an HTTP listener. The log goes to a file (appended
    to): a pipe nobody reads until the end would stop the server once it filled."""

    def __init__(self, binary, config, log=None):
        self.log = log or config + ".log"
        self.process = subprocess.Popen([binary, "serve", "--config", config],
                                        stdout=subprocess.PIPE, stderr=open(self.log, "ab"))
        fd = self.process.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        text = b""
        while text.count(b"\n") < 2:
            if not sel.select(30):
                fail(f"the server printed {text!r} and nothing more in 30 s")
            chunk = os.read(fd, 4096)
            if not chunk:
                with open(self.log, encoding="utf-8", errors="replace") as f:
                    fail(f"the server exited: {f.read()}")
            text += chunk
        lines = text.decode().splitlines()
        self.address = lines[0].split("serving on ")[1].split()[0]
        m = re.search(r"http on (\S+)", lines[1])
        check(m is not None, f"no HTTP address in {lines[1]!r}")
        self.http = m.group(1)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self):
        """SIGTERM; returns the log."""
        self.process.send_signal(signal.SIGTERM)
        self.process.communicate(timeout=60)
        check(self.process.returncode == 0, f"the server exited {self.process.returncode}")
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()
