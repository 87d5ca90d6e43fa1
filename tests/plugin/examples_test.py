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
import contextlib
import importlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

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


@contextlib.contextmanager
def serving(binary, config, what):
    """`hijackguard serve --config CONFIG`, once it says where it serves: yields the process,
    its address and that line; kills it at the end if it is still running."""
    server = subprocess.Popen([binary, "serve", "--config", config],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = read_line(server, 30)
        if "serving on " not in line:
            fail(f"{what}: unexpected first line: {line!r}")
        yield server, line.split("serving on ")[1].split()[0], line
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


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
    # The example configuration's policy runs in monitor mode: every device is allowed and
    # evaluatedAction says what enforce would do.
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
        got = (response["action"], response["evaluatedAction"], fingerprint["osVersion"],
               got_issues)
        if got != ("ACTION_ALLOW", action, version, issues):
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
    if (result.returncode != 0 or "ACTION_ALLOW (evaluated ACTION_WARN, POLICY_MODE_MONITOR"
            not in out or "iPhone 4S" not in out):
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
        # Every listed service resolves (what `grpcurl describe` and `buf curl --list-methods`
        # ask), the health service included.
        for name in sorted(services):
            answer = list(stub.ServerReflectionInfo(
                iter([refl_pb2.ServerReflectionRequest(file_containing_symbol=name)]),
                timeout=10))[0]
            if answer.HasField("error_response"):
                fail(f"reflection lists {name} but cannot describe it: "
                     f"{answer.error_response.error_message}")
            described = set()
            for raw in answer.file_descriptor_response.file_descriptor_proto:
                fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
                described.update(f"{fd.package}.{svc.name}" for svc in fd.service)
            if name not in described:
                fail(f"reflection's descriptor for {name} does not define it: {described}")
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
    print("device show names the true organizer")


def checkin_hijack_device(binary, address):
    result = subprocess.run([binary, "checkin", "--server", address, "--tenant", "acme",
                             "--device-id", "ApplDMPFXZABDFHW", "--mdm-device-id", "mdm-7",
                             "--user", "alice@example.com", "--locale", "de-DE",
                             "--user-agent", "Apple-iPhone4C1/1001.403"],
                            capture_output=True, timeout=30, check=False, text=True)
    if result.returncode != 0:
        fail(f"checkin: {result.stderr}")
    return json.loads(result.stdout)


class AlertWatcher:
    """Subscribes to WatchAlerts (stubs generated from proto/) and collects alerts."""

    def __init__(self, address, stub_dir):
        os.makedirs(stub_dir, exist_ok=True)
        proto_root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
        protos = [os.path.join(proto_root, "hijackguard", "v1", name)
                  for name in sorted(os.listdir(os.path.join(proto_root, "hijackguard", "v1")))
                  if name.endswith(".proto")]
        import grpc_tools
        well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        if protoc.main(["protoc", f"-I{proto_root}", f"-I{well_known}", f"--python_out={stub_dir}",
                        f"--grpc_python_out={stub_dir}"] + protos) != 0:
            fail("protoc failed on proto/")
        sys.path.insert(0, stub_dir)
        pb2 = importlib.import_module("hijackguard.v1.compliance_plugin_pb2")
        pb2_grpc = importlib.import_module("hijackguard.v1.compliance_plugin_pb2_grpc")
        self.pb2 = pb2
        self.channel = grpc.insecure_channel(address)
        stub = pb2_grpc.CompliancePluginStub(self.channel)
        self.call = stub.WatchAlerts(pb2.WatchAlertsRequest(tenant_id="acme"))
        self.alerts = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        # The stream's headers arrive once the server has subscribed.
        self.call.initial_metadata()

    def _run(self):
        try:
            for alert in self.call:
                with self.lock:
                    self.alerts.append(alert)
        except grpc.RpcError:
            pass

    def wait_for(self, count, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.alerts) >= count:
                    return list(self.alerts)
            time.sleep(0.05)
        with self.lock:
            return list(self.alerts)

    def close(self):
        self.call.cancel()
        self.channel.close()


def check_policy_rollout(binary, address, policy_path, server, watcher):
    """The acceptance of the policy engine: in monitor mode the hijacked device is allowed
    with the evaluated QUARANTINE; switching the policy file to enforce (SIGHUP) quarantines it
    with the same evaluated action; WatchAlerts saw one alert per transition."""
    monitor = checkin_hijack_device(binary, address)
    if (monitor["action"], monitor["evaluatedAction"], monitor["mode"]) != (
            "ACTION_ALLOW", "ACTION_QUARANTINE", "POLICY_MODE_MONITOR"):
        fail(f"monitor checkin after the hijack: {monitor}")
    codes = [r["code"] for r in monitor["reasons"]]
    if codes[:5] != ["MONITOR_MODE", "OBSERVED_ATTENDEE_CANCEL", "OBSERVED_ORGANIZER_REWRITE",
                     "OBSERVED_OWNERSHIP_CLAIM", "CONFIRMED_ORGANIZER_HIJACK_BUILD"]:
        fail(f"monitor checkin reasons: {codes}")
    if "040000008200E000" not in monitor["reasons"][2]["message"]:
        fail(f"the rewrite reason does not cite the meeting: {monitor['reasons'][2]}")
    if "userAlert" in monitor:
        fail("monitor mode must not show the user an alert")

    with open(policy_path, encoding="utf-8") as f:
        policy = json.load(f)
    policy["mode"] = "enforce"
    with open(policy_path, "w", encoding="utf-8") as f:
        json.dump(policy, f, indent=2)
    server.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        got = subprocess.run([binary, "policy", "get", "--server", address, "--revision"],
                             capture_output=True, timeout=30, check=False, text=True)
        if got.returncode == 0 and got.stdout.strip() != monitor["policyRevision"]:
            break
        if time.monotonic() > deadline:
            fail(f"SIGHUP did not reload the policy: {got.stdout} {got.stderr}")
        time.sleep(0.05)
    enforce = checkin_hijack_device(binary, address)
    if (enforce["action"], enforce["evaluatedAction"], enforce["mode"]) != (
            "ACTION_QUARANTINE", "ACTION_QUARANTINE", "POLICY_MODE_ENFORCE"):
        fail(f"enforce checkin after the hijack: {enforce}")
    alert = enforce.get("userAlert", {})
    if alert.get("locale") != "de" or "iPhone 4S" not in alert.get("title", ""):
        fail(f"enforce checkin user alert: {alert}")
    if "ActiveSyncBlockedDeviceIDs @{Add='ApplDMPFXZABDFHW'}" not in enforce["adminRemediation"]:
        fail(f"admin remediation: {enforce['adminRemediation']}")
    print("policy rollout: monitor ALLOW -> (SIGHUP) enforce QUARANTINE, evaluated QUARANTINE "
          "in both")

    alerts = watcher.wait_for(2)
    time.sleep(0.3)  # anything extra would have arrived by now
    alerts = [a for a in watcher.wait_for(2) if a.eas_device_id == "ApplDMPFXZABDFHW"]
    pb2 = watcher.pb2
    got = [(pb2.Action.Name(a.old_action), pb2.Action.Name(a.new_action), a.trigger)
           for a in alerts]
    want = [("ACTION_ALLOW", "ACTION_WARN", "CHECK_IN"),
            ("ACTION_WARN", "ACTION_QUARANTINE", "TRAFFIC")]
    if got != want:
        fail(f"WatchAlerts: expected {want}, got {got}")
    print(f"WatchAlerts: one alert per transition: {got}")
    return enforce


def put_and_delete_user_exemption(address):
    """An exemption for a user through PolicyAdmin: its log lines must not name the user."""
    admin_pb2 = importlib.import_module("hijackguard.v1.policy_admin_pb2")
    admin_grpc = importlib.import_module("hijackguard.v1.policy_admin_pb2_grpc")
    with grpc.insecure_channel(address) as channel:
        stub = admin_grpc.PolicyAdminStub(channel)
        exemption = admin_pb2.Exemption(tenant_id="acme", kind=admin_pb2.EXEMPTION_KIND_USER,
                                        value="Alice@Example.com", reason="e2e")
        exemption.expires.FromSeconds(int(time.time()) + 3600)
        put = stub.PutExemption(admin_pb2.PutExemptionRequest(exemption=exemption), timeout=10)
        stub.DeleteExemption(admin_pb2.DeleteExemptionRequest(id=put.exemption.id), timeout=10)


def check_logs_are_pseudonymous(binary, state_dir, stderr):
    """After the whole scenario the server's log names users only by pseudonym."""
    for address in ("alice@example.com", "bob@example.com"):
        if address in stderr.lower():
            fail(f"the server's log names {address}:\n{stderr}")
    pseudonym = subprocess.run([binary, "audit", "pseudonym", "--state", state_dir,
                                "alice@example.com"], capture_output=True, text=True,
                               timeout=30, check=False).stdout.strip()
    if len(pseudonym) != 16 or f"acme/user/{pseudonym}" not in stderr:
        fail(f"the exemption's log lines do not carry the pseudonym {pseudonym!r}:\n{stderr}")
    print(f"logs: no user address in clear; alice appears as {pseudonym}")


def check_auth_and_sighup(binary, tmp):
    """A server with an auth section, through the CLI: a token works, no token and a
    withdrawn token do not (SIGHUP), and a broken file keeps what is in force."""
    def digest(token):
        return subprocess.run([binary, "auth", "hash-token"], input=token + "\n",
                              capture_output=True, text=True, timeout=30,
                              check=True).stdout.strip()
    token = subprocess.run([binary, "auth", "new-token"], capture_output=True, text=True,
                           timeout=30, check=True).stdout.strip()
    token_file = os.path.join(tmp, "mdm.token")
    with open(token_file, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    config = os.path.join(tmp, "auth.json")
    def write(principals):
        with open(config, "w", encoding="utf-8") as f:
            json.dump({"listen": "127.0.0.1:0", "state_dir": os.path.join(tmp, "var-auth"),
                       "auth": {"principals": principals}}, f)
    write([{"id": "mdm-acme", "roles": ["mdm"], "tenants": ["acme"],
            "token_sha256": digest(token)},
           {"id": "other", "roles": ["auditor"], "tenants": ["*"],
            "token_sha256": digest("x" * 43)}])
    with serving(binary, config, "auth server") as (server, address, _):
        def checkin(*extra):
            return subprocess.run([binary, "checkin", "--server", address, "--tenant", "acme",
                                   "--device-id", "ApplAUTH", "--user-agent",
                                   "Apple-iPhone4C1/1001.403", *extra],
                                  capture_output=True, text=True, timeout=30, check=False)
        ok = checkin("--token-file", token_file)
        if ok.returncode != 0:
            fail(f"checkin with the mdm token: {ok.stderr}")
        anonymous = checkin()
        if anonymous.returncode != 3 or "UNAUTHENTICATED" not in anonymous.stderr:
            fail(f"checkin without a token: {anonymous.returncode} {anonymous.stderr}")
        with open(config, "w", encoding="utf-8") as f:
            f.write("{ not json")
        server.send_signal(signal.SIGHUP)
        time.sleep(1)
        if checkin("--token-file", token_file).returncode != 0:
            fail("a broken configuration on SIGHUP replaced the principals in force")
        write([{"id": "other", "roles": ["auditor"], "tenants": ["*"],
                "token_sha256": digest("x" * 43)}])
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:
            withdrawn = checkin("--token-file", token_file)
            if withdrawn.returncode == 3 and "UNAUTHENTICATED" in withdrawn.stderr:
                break
            if time.monotonic() > deadline:
                fail(f"a withdrawn token still works after SIGHUP: {withdrawn.stdout}")
            time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        if server.wait(timeout=30) != 0:
            fail("auth server: SIGTERM did not exit 0")
        stderr = server.stderr.read().decode()
        for expected in ("configuration not re-read", "auth section re-read",
                         "refused", "UNAUTHENTICATED"):
            if expected not in stderr:
                fail(f"auth server log lacks {expected!r}:\n{stderr}")
        if token in stderr:
            fail("the server's log holds a bearer token")
    print("auth: token, no token, SIGHUP with a broken file and a withdrawn token: ok")


def check_restart(binary, config, state_dir, before):
    """The durable state's acceptance: a new server on the same state directory still
    quarantines the hijacked device, with the same evidence, and the audit chain verifies."""
    with serving(binary, config, "restart") as (server, address, _):
        after = checkin_hijack_device(binary, address)
        if (after["action"], after["evaluatedAction"]) != ("ACTION_QUARANTINE",
                                                           "ACTION_QUARANTINE"):
            fail(f"after a restart the hijacked device gets {after}")
        def evidence(r):
            return [(x["code"], x.get("contribution"), x["message"]) for x in r["reasons"]
                    if x["code"].startswith(("OBSERVED_", "CONFIRMED_"))]
        if evidence(after) != evidence(before):
            fail(f"evidence changed across the restart:\n{evidence(before)}\n{evidence(after)}")
        server.send_signal(signal.SIGTERM)
        if server.wait(timeout=30) != 0:
            fail("restarted server: SIGTERM did not exit 0")
    verify = subprocess.run([binary, "audit", "verify", "--state", state_dir],
                            capture_output=True, timeout=30, check=False, text=True)
    if verify.returncode != 0 or "audit log OK" not in verify.stdout:
        fail(f"audit verify: {verify.stdout} {verify.stderr}")
    print(f"restart: still QUARANTINE with the same evidence; {verify.stdout.strip()}")


def check_policy_cli(binary, source_dir, address):
    for name in ("default", "strict", "calendar-only"):
        path = os.path.join(source_dir, "examples", "policies", name + ".json")
        ok = subprocess.run([binary, "policy", "validate", path], capture_output=True,
                            timeout=30, check=False, text=True)
        if ok.returncode != 0 or "valid; revision" not in ok.stdout:
            fail(f"policy validate {name}: {ok.returncode} {ok.stdout} {ok.stderr}")
    broken = os.path.join(source_dir, "tests", "policy", "broken",
                          "52-multi-mode-halflife-restrict.json")
    bad = subprocess.run([binary, "policy", "validate", broken], capture_output=True,
                         timeout=30, check=False, text=True)
    pointers = [line.split(": ")[1] for line in bad.stdout.splitlines()[:-1]]
    if bad.returncode != 1 or pointers != ["/mode", "/events/half_life_hours", "/restrict/warn"]:
        fail(f"policy validate (broken): {bad.returncode} {bad.stdout}")
    strict = os.path.join(source_dir, "examples", "policies", "strict.json")
    dry = subprocess.run([binary, "policy", "apply", strict, "--server", address, "--dry-run"],
                         capture_output=True, timeout=30, check=False, text=True)
    if dry.returncode != 0 or "dry run" not in dry.stdout:
        fail(f"policy apply --dry-run: {dry.returncode} {dry.stdout} {dry.stderr}")
    sim = subprocess.run([binary, "simulate", "--policy", strict, "--user-agent",
                          "Apple-iPhone4C1/1001.403"], capture_output=True, timeout=30,
                         check=False, text=True)
    if sim.returncode != 0 or json.loads(sim.stdout)["decision"]["action"] != "ACTION_WARN":
        fail(f"simulate: {sim.returncode} {sim.stdout} {sim.stderr}")
    print("policy CLI: validate, apply --dry-run, simulate")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--cpp-example")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hijackguard-e2e-") as tmp:
        config = os.path.join(tmp, "hijackguard.json")
        # The example configuration's policy, copied so that the test can switch it.
        policy_path = os.path.join(tmp, "policy.json")
        shutil.copyfile(os.path.join(args.source_dir, "examples", "policies", "default.json"),
                        policy_path)
        with open(config, "w", encoding="utf-8") as f:
            json.dump({"listen": "127.0.0.1:0",
                       "catalog": os.path.join(args.source_dir,
                                               "detector/catalog/known_issues.json"),
                       "policy": policy_path,
                       "state_dir": os.path.join(tmp, "var"),
                       "shutdown_grace_seconds": 5}, f)
        with serving(args.binary, config, "server") as (server, address, line):
            print(f"server: {line.strip()}")

            check_python_example(args.source_dir, address)
            if args.cpp_example:
                check_cpp_example(args.cpp_example, address)
            check_reflection_and_health(address, os.path.join(tmp, "stubs"))
            check_policy_cli(args.binary, args.source_dir, address)
            watcher = AlertWatcher(address, os.path.join(tmp, "api-stubs"))
            try:
                first = checkin_hijack_device(args.binary, address)
                if (first["action"], first["evaluatedAction"]) != ("ACTION_ALLOW", "ACTION_WARN"):
                    fail(f"hijack device before its traffic: {first}")
                check_traces(args.binary, args.source_dir, address)
                enforce = check_policy_rollout(args.binary, address, policy_path, server,
                                               watcher)
                put_and_delete_user_exemption(address)
            finally:
                watcher.close()

            second = subprocess.run([args.binary, "serve", "--config", config],
                                    capture_output=True, timeout=30, check=False)
            if second.returncode != 2 or b"in use by another hijackguard" not in second.stderr:
                fail(f"second server on the same state: {second.returncode} {second.stderr!r}")
            print("state directory lock: ok")

            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=30)
            stderr = server.stderr.read().decode()
            if code != 0 or "draining" not in stderr:
                fail(f"SIGTERM: exit {code}, stderr: {stderr}")
            print("SIGTERM: drained, exit 0")
            check_logs_are_pseudonymous(args.binary, os.path.join(tmp, "var"), stderr)
            check_restart(args.binary, config, os.path.join(tmp, "var"), enforce)
            check_auth_and_sighup(args.binary, tmp)

            # Ctrl-C in a terminal sends SIGINT: the same drain, the same exit 0.
            with open(config, "w", encoding="utf-8") as f:
                json.dump({"listen": "127.0.0.1:0", "state_dir": os.path.join(tmp, "var2")}, f)
            with serving(args.binary, config, "second server") as (interactive, _, _):
                interactive.send_signal(signal.SIGINT)
                code = interactive.wait(timeout=30)
                stderr = interactive.stderr.read().decode()
                if code != 0 or "SIGINT: draining" not in stderr:
                    fail(f"SIGINT: exit {code}, stderr: {stderr}")
            print("SIGINT: drained, exit 0 (built-in catalog)")
    print("PASS")


if __name__ == "__main__":
    main()
