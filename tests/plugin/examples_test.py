#!/usr/bin/env python3
"""End-to-end check of a served plugin, as others would use it.

Starts `hijackguard serve` on a free port with a temporary state directory, then:
  * runs the Python example (stubs generated from proto/ by grpcio-tools) and checks the answer;
  * runs the C++ example when given;
  * lists the services through server reflection and fetches the CheckIn descriptor, with stubs
    generated from Debian's grpc-proto (nobody else's code involved);
  * asks the standard health service;
  * checks that a second server refuses the same state directory;
  * sends SIGTERM and expects a clean exit 0.
"""

import argparse
import importlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile

import grpc
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

GRPC_PROTO = "/usr/share/grpc-proto"


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def read_line(process, timeout):
    sel = selectors.DefaultSelector()
    sel.register(process.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        fail(f"server printed nothing in {timeout} s")
    return process.stdout.readline().decode()


def generate(proto, module, out_dir):
    """Generates Python stubs for `proto` as top-level module `module` (the proto's own path
    would put them under the 'grpc' package, which grpcio owns) and imports them."""
    src = os.path.join(out_dir, "src")
    os.makedirs(src, exist_ok=True)
    shutil.copyfile(proto, os.path.join(src, module + ".proto"))
    if protoc.main(["protoc", f"-I{src}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
                    os.path.join(src, module + ".proto")]) != 0:
        fail(f"protoc failed for {proto}")
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    return (importlib.import_module(module + "_pb2"), importlib.import_module(module + "_pb2_grpc"))


def check_python_example(source_dir, address):
    example = os.path.join(source_dir, "examples", "python_client", "checkin.py")
    for user_agent, action, version, issues in [
            ("Apple-iPhone4C1/1001.403", "ACTION_WARN", "6.0", ["ios6-meeting-organizer-hijack"]),
            ("Apple-iPhone5C2/1002.146", "ACTION_ALLOW", "6.1.2", [])]:
        result = subprocess.run(
            [sys.executable, example, "--server", address, "--tenant", "t1", "--device-id",
             "ApplX", "--user-agent", user_agent], capture_output=True, timeout=60, check=False)
        if result.returncode != 0:
            fail(f"python example exited {result.returncode}: {result.stderr.decode()}")
        response = json.loads(result.stdout)
        fingerprint = response["fingerprint"]
        got_issues = [i["id"] for i in fingerprint.get("knownIssues", [])]
        if (response["action"], fingerprint["osVersion"], got_issues) != (action, version, issues):
            fail(f"python example for {user_agent}: {response}")
    bad = subprocess.run([sys.executable, example, "--server", address, "--tenant", ""],
                         capture_output=True, timeout=60, check=False)
    if bad.returncode != 1 or b"INVALID_ARGUMENT" not in bad.stderr:
        fail(f"python example without tenant: {bad.returncode} {bad.stderr!r}")
    print("python example: ok")


def check_cpp_example(binary, address):
    result = subprocess.run([binary, "--server", address], capture_output=True, timeout=30,
                            check=False)
    out = result.stdout.decode()
    if result.returncode != 0 or "ACTION_WARN" not in out or "iPhone 4S" not in out:
        fail(f"C++ example: {result.returncode} {out} {result.stderr.decode()}")
    print("C++ example: ok")


def check_reflection_and_health(address, stub_dir):
    refl_pb2, refl_grpc = generate(
        os.path.join(GRPC_PROTO, "grpc/reflection/v1alpha/reflection.proto"), "hg_reflection",
        stub_dir)
    health_pb2, health_grpc = generate(os.path.join(GRPC_PROTO, "grpc/health/v1/health.proto"),
                                       "hg_health", stub_dir)
    with grpc.insecure_channel(address) as channel:
        stub = refl_grpc.ServerReflectionStub(channel)
        requests = [refl_pb2.ServerReflectionRequest(list_services=""),
                    refl_pb2.ServerReflectionRequest(
                        file_containing_symbol="hijackguard.v1.CompliancePlugin")]
        responses = list(stub.ServerReflectionInfo(iter(requests), timeout=10))
        services = {s.name for s in responses[0].list_services_response.service}
        for expected in ("hijackguard.v1.CompliancePlugin", "grpc.health.v1.Health"):
            if expected not in services:
                fail(f"reflection does not list {expected}: {sorted(services)}")
        methods = set()
        for raw in responses[1].file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
            for service in fd.service:
                methods.update(f"{fd.package}.{service.name}/{m.name}" for m in service.method)
        if "hijackguard.v1.CompliancePlugin/CheckIn" not in methods:
            fail(f"reflection descriptor lacks CheckIn: {methods}")
        health = health_grpc.HealthStub(channel)
        for service in ("", "hijackguard.v1.CompliancePlugin"):
            status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
            if status != health_pb2.HealthCheckResponse.SERVING:
                fail(f"health of {service!r} is {status}")
    print(f"reflection: {sorted(services)}; health: SERVING")


# The example traces and exactly the events each must give: (sequence, kind).
EXPECTED_TRACE_EVENTS = {
    "ios60_hijack": [(2, "ORGANIZER_REWRITE"), (2, "OWNERSHIP_CLAIM"),
                     (4, "ATTENDEE_CANCEL")],
    "ios60_organizer_edit": [],
    "android_repeat_organizer": [],
    "ios612_accept": [],
}


def replay_events(binary, trace, extra):
    result = subprocess.run([binary, "replay", "--json", trace] + extra,
                            capture_output=True, timeout=60, check=False, text=True)
    if result.returncode != 0:
        fail(f"replay {trace} {extra}: exit {result.returncode}: {result.stderr}")
    events = []
    summary = None
    for line in result.stdout.splitlines():
        doc = json.loads(line)
        if "summary" in doc:
            summary = doc["summary"]
        elif "error" in doc:
            fail(f"replay {trace}: item error {doc}")
        else:
            events.append((int(doc["sequence"]), doc["kind"].removeprefix("EVENT_KIND_")))
    if summary is None:
        fail(f"replay {trace}: no summary line")
    return events


def check_traces(binary, source_dir, address):
    for name, expected in EXPECTED_TRACE_EVENTS.items():
        trace = os.path.join(source_dir, "examples", "traces", name + ".jsonl")
        local = replay_events(binary, trace, [])
        served = replay_events(binary, trace, ["--server", address])
        if local != expected or served != expected:
            fail(f"{name}: expected {expected}, in-process {local}, via server {served}")
        print(f"trace {name}: {expected or 'no events'} (both replay modes)")

    # The hijacked device is quarantined at its next check-in, citing the event,
    # and GetDeviceRisk names the meeting and its true organizer.
    checkin = subprocess.run([binary, "checkin", "--server", address, "--tenant", "acme",
                              "--device-id", "ApplDMPFXZABDFHW", "--mdm-device-id", "mdm-7",
                              "--user-agent", "Apple-iPhone4C1/1001.403"],
                             capture_output=True, timeout=30, check=False, text=True)
    if checkin.returncode != 0:
        fail(f"checkin: {checkin.stderr}")
    decision = json.loads(checkin.stdout)
    if decision["action"] != "ACTION_QUARANTINE":
        fail(f"checkin after the hijack trace: {decision['action']}")
    codes = [r["code"] for r in decision["reasons"]]
    if codes[:3] != ["OBSERVED_ORGANIZER_REWRITE", "OBSERVED_OWNERSHIP_CLAIM",
                     "OBSERVED_ATTENDEE_CANCEL"]:
        fail(f"checkin reasons: {codes}")
    show = subprocess.run([binary, "device", "show", "--server", address, "--tenant", "acme",
                           "--device-id", "ApplDMPFXZABDFHW"],
                          capture_output=True, timeout=30, check=False, text=True)
    if show.returncode != 0:
        fail(f"device show: {show.stderr}")
    risk = json.loads(show.stdout)
    meetings = risk["meetings"]
    if (len(meetings) != 1 or meetings[0]["trueOrganizerEmail"] != "bob@example.com"
            or not meetings[0]["uid"].startswith("040000008200E000")
            or risk["mdmDeviceId"] != "mdm-7"):
        fail(f"device show: {show.stdout}")
    print("checkin after hijack: ACTION_QUARANTINE; device show names the true organizer")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--cpp-example")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hijackguard-e2e-") as tmp:
        config = os.path.join(tmp, "hijackguard.json")
        with open(config, "w", encoding="utf-8") as f:
            json.dump({"listen": "127.0.0.1:0",
                       "catalog": os.path.join(args.source_dir, "detector/catalog/known_issues.json"),
                       "state_dir": os.path.join(tmp, "var"),
                       "shutdown_grace_seconds": 5}, f)
        server = subprocess.Popen([args.binary, "serve", "--config", config],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line = read_line(server, 30)
            if "serving on " not in line:
                fail(f"unexpected first line: {line!r}")
            address = line.split("serving on ")[1].split()[0]
            print(f"server: {line.strip()}")

            check_python_example(args.source_dir, address)
            if args.cpp_example:
                check_cpp_example(args.cpp_example, address)
            check_reflection_and_health(address, os.path.join(tmp, "stubs"))
            check_traces(args.binary, args.source_dir, address)

            second = subprocess.run([args.binary, "serve", "--config", config],
                                    capture_output=True, timeout=30, check=False)
            if second.returncode != 1 or b"in use by another hijackguard" not in second.stderr:
                fail(f"second server on the same state: {second.returncode} {second.stderr!r}")
            print("state directory lock: ok")

            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=30)
            stderr = server.stderr.read().decode()
            if code != 0 or "draining" not in stderr:
                fail(f"SIGTERM: exit {code}, stderr: {stderr}")
            print("SIGTERM: drained, exit 0")

            # Ctrl-C in a terminal sends SIGINT: the same drain, the same exit 0.
            with open(config, "w", encoding="utf-8") as f:
                json.dump({"listen": "127.0.0.1:0", "state_dir": os.path.join(tmp, "var2")}, f)
            interactive = subprocess.Popen([args.binary, "serve", "--config", config],
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                if "serving on " not in read_line(interactive, 30):
                    fail("second server did not start")
                interactive.send_signal(signal.SIGINT)
                code = interactive.wait(timeout=30)
                stderr = interactive.stderr.read().decode()
                if code != 0 or "SIGINT: draining" not in stderr:
                    fail(f"SIGINT: exit {code}, stderr: {stderr}")
            finally:
                if interactive.poll() is None:
                    interactive.kill()
                    interactive.wait()
            print("SIGINT: drained, exit 0 (built-in catalog)")
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    print("PASS")


if __name__ == "__main__":
    main()
