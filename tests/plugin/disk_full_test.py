#!/usr/bin/env python3
"""A full disk under a running server, on a real (small) tmpfs.

Runs in its own mount namespace (ctest starts it under `unshare -rm`), mounts an 8 MiB tmpfs as
the state directory, fills most of it with a file, and then:
  * sends check-ins of new iOS 6.0 devices (each one writes a decision history row with a grace
    clock, and an audit row) until the store cannot write: CheckIn answers UNAVAILABLE and the
    standard health service says NOT_SERVING, overall and for each service;
  * checks that calls keep answering (UNAVAILABLE, not a hang) while the disk is full;
  * frees the space: health returns to SERVING and check-ins are acknowledged again;
  * kills the server (SIGKILL), starts it again on the same directory, and checks that every
    acknowledged check-in is still there (the same grace deadline), and that `hijackguard audit
    verify` passes.
Exits 77 (skipped) when no tmpfs can be mounted here.
"""

import argparse
import importlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc

GRPC_PROTO = "/usr/share/grpc-proto"
TMPFS_BYTES = 8 << 20
FREE_BYTES = 1536 << 10  # left free beside the filler


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def generate(out_dir, source_dir):
    """Stubs for hijackguard's protos and for grpc.health.v1 (renamed to a top-level module)."""
    proto_dir = os.path.join(source_dir, "proto")
    protos = [os.path.join(proto_dir, "hijackguard", "v1", p)
              for p in os.listdir(os.path.join(proto_dir, "hijackguard", "v1"))]
    src = os.path.join(out_dir, "src")
    os.makedirs(src, exist_ok=True)
    shutil.copyfile(os.path.join(GRPC_PROTO, "grpc", "health", "v1", "health.proto"),
                    os.path.join(src, "hg_health.proto"))
    for args in ([f"-I{proto_dir}"] + protos, [f"-I{src}", os.path.join(src, "hg_health.proto")]):
        if protoc.main(["protoc", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"] +
                       args) != 0:
            fail("protoc failed")
    sys.path.insert(0, out_dir)
    return (importlib.import_module("hijackguard.v1.compliance_plugin_pb2"),
            importlib.import_module("hijackguard.v1.compliance_plugin_pb2_grpc"),
            importlib.import_module("hg_health_pb2"),
            importlib.import_module("hg_health_pb2_grpc"))


def start(binary, config, state):
    process = subprocess.Popen([binary, "serve", "--config", config, "--state", state],
                               stdout=subprocess.PIPE)
    sel = selectors.DefaultSelector()
    sel.register(process.stdout, selectors.EVENT_READ)
    if not sel.select(30):
        fail("the server printed nothing in 30 s")
    line = process.stdout.readline().decode()
    if "serving on " not in line:
        process.wait(10)
        fail(f"the server did not start; it printed: {line!r}")
    return process, line.split("serving on ")[1].split(" ")[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--source-dir", required=True)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="hijackguard-diskfull-")
    state = os.path.join(work, "state")
    os.makedirs(state)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", state],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        print(f"SKIP: cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
        sys.exit(77)
    try:
        run(args, work, state)
    finally:
        subprocess.run(["umount", state], check=False)
        shutil.rmtree(work, ignore_errors=True)


def run(args, work, state):
    pb, pb_grpc, health_pb, health_grpc = generate(os.path.join(work, "stubs"), args.source_dir)
    policy = os.path.join(work, "policy.json")
    with open(policy, "w", encoding="utf-8") as f:
        f.write('{"apiVersion": "hijackguard/v1", "mode": "enforce"}')
    config = os.path.join(work, "config.json")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f'{{"listen": "127.0.0.1:0", "policy": "{policy}", "shutdown_grace_seconds": 2}}')

    server, address = start(args.binary, config, state)
    channel = grpc.insecure_channel(address)
    stub = pb_grpc.CompliancePluginStub(channel)
    health = health_grpc.HealthStub(channel)

    def health_of(service):
        return health.Check(health_pb.HealthCheckRequest(service=service), timeout=5).status

    def check_in(device):
        request = pb.CheckInRequest(tenant_id="t1")
        request.device.eas_device_id = device
        request.device.user_principal = "alice@example.com"
        request.eas.user_agent = "Apple-iPhone4C1/1001.403"
        return stub.CheckIn(request, timeout=15)

    serving = health_pb.HealthCheckResponse.SERVING
    not_serving = health_pb.HealthCheckResponse.NOT_SERVING
    if health_of("") != serving:
        fail("not SERVING at start")
    usage = shutil.disk_usage(state)
    filler = os.path.join(state, "filler")
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, usage.free - FREE_BYTES)

    acknowledged = {}  # device -> grace deadline (seconds)
    refused = None
    for i in range(200000):
        device = f"ApplFULL{i:07d}"
        try:
            response = check_in(device)
        except grpc.RpcError as e:
            refused = e
            break
        if not response.HasField("deadline"):
            fail(f"{device}: the hijack build got no grace deadline; nothing to compare")
        acknowledged[device] = response.deadline.seconds
    if refused is None:
        fail("the disk never filled up")
    if refused.code() != grpc.StatusCode.UNAVAILABLE:
        fail(f"a full disk answered {refused.code()}: {refused.details()}")
    print(f"{len(acknowledged)} check-ins acknowledged, then UNAVAILABLE: {refused.details()}")

    for service in ("", "hijackguard.v1.CompliancePlugin", "hijackguard.v1.PolicyAdmin"):
        deadline = time.monotonic() + 10
        while health_of(service) != not_serving:
            if time.monotonic() > deadline:
                fail(f"health of {service!r} is not NOT_SERVING while the disk is full")
            time.sleep(0.1)
    print("health: NOT_SERVING overall and per service")
    for i in range(5):
        try:
            check_in(f"ApplREFUSED{i}")
            fail("a check-in was acknowledged while the store cannot write")
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                fail(f"while full, CheckIn answered {e.code()}: {e.details()}")
    print("while full, calls are answered UNAVAILABLE at once")

    os.remove(filler)
    deadline = time.monotonic() + 30
    while health_of("") != serving:
        if time.monotonic() > deadline:
            fail("health did not return to SERVING after the space was freed")
        time.sleep(0.2)
    print("space freed: health SERVING again")
    for i in range(20):
        device = f"ApplAFTER{i:04d}"
        acknowledged[device] = check_in(device).deadline.seconds

    server.send_signal(signal.SIGKILL)
    server.wait(10)
    channel.close()
    server, address = start(args.binary, config, state)
    channel = grpc.insecure_channel(address)
    stub = pb_grpc.CompliancePluginStub(channel)
    lost = [d for d, seconds in acknowledged.items() if check_in(d).deadline.seconds != seconds]
    if lost:
        fail(f"{len(lost)} acknowledged check-ins lost their grace clock, e.g. {lost[:3]}")
    print(f"after SIGKILL and restart: all {len(acknowledged)} acknowledged check-ins are there")
    server.send_signal(signal.SIGTERM)
    if server.wait(30) != 0:
        fail("the server did not exit 0 on SIGTERM")
    verify = subprocess.run([args.binary, "audit", "verify", "--state", state],
                            capture_output=True, check=False)
    if verify.returncode != 0:
        fail(f"audit verify: {verify.stdout.decode()} {verify.stderr.decode()}")
    print("the audit log verifies\nPASS")


if __name__ == "__main__":
    main()
