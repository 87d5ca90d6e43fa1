#!/usr/bin/env python3
"""Call hijackguard's CheckIn as an MDM server would, from Python.

The client stubs are generated at start from the project's proto/ files with grpcio-tools, so
nothing but the .proto files is shared with the server. Needs Debian's python3-grpcio and
python3-grpc-tools (run it with /usr/bin/python3).

    /usr/bin/python3 examples/python_client/checkin.py --server 127.0.0.1:50051 \\
        --tenant t1 --device-id ApplX --user-agent Apple-iPhone4C1/1001.403

Prints the response as proto3 JSON. Exit status: 0 on success, 1 when the call failed.
"""

import argparse
import glob
import importlib
import os
import sys
import tempfile

import grpc
import grpc_tools
from google.protobuf import json_format
from grpc_tools import protoc

PROTO_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")


def generate_stubs(proto_root, out_dir):
    """Runs protoc (from grpcio-tools) on every hijackguard .proto file into out_dir."""
    protos = sorted(glob.glob(os.path.join(proto_root, "hijackguard", "v1", "*.proto")))
    if not protos:
        raise RuntimeError(f"no .proto files under {proto_root}")
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = ["protoc", f"-I{proto_root}", f"-I{well_known}", f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}"] + protos
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on " + " ".join(protos))
    sys.path.insert(0, out_dir)
    pb2 = importlib.import_module("hijackguard.v1.compliance_plugin_pb2")
    pb2_grpc = importlib.import_module("hijackguard.v1.compliance_plugin_pb2_grpc")
    return pb2, pb2_grpc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="plugin address host:port")
    parser.add_argument("--tenant", default="example-tenant")
    parser.add_argument("--device-id", default="ApplDMPFXZABDFHW", help="EAS DeviceId")
    parser.add_argument("--user", default="alice@example.com", help="user principal name")
    parser.add_argument("--user-agent", default="Apple-iPhone4C1/1001.403")
    parser.add_argument("--device-os", default="")
    parser.add_argument("--proto-root", default=PROTO_ROOT)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hijackguard-stubs-") as out_dir:
        pb2, pb2_grpc = generate_stubs(args.proto_root, out_dir)
        request = pb2.CheckInRequest(
            tenant_id=args.tenant,
            device=pb2.DeviceIdentity(eas_device_id=args.device_id, user_principal=args.user),
            eas=pb2.EasClient(user_agent=args.user_agent, device_os=args.device_os),
        )
        with grpc.insecure_channel(args.server) as channel:
            stub = pb2_grpc.CompliancePluginStub(channel)
            try:
                # Always set a deadline: a check-in must not hang on the plugin.
                response = stub.CheckIn(request, timeout=5)
            except grpc.RpcError as error:
                print(f"CheckIn failed: {error.code().name}: {error.details()}", file=sys.stderr)
                return 1
        print(json_format.MessageToJson(response))
    return 0


if __name__ == "__main__":
    sys.exit(main())
