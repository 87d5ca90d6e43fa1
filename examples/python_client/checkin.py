#!/usr/bin/env python3
"""Call hijackguard's CheckIn as an MDM server would, from Python.

The client stubs are generated at start from the project's proto/ files with grpcio-tools, so
nothing but the .proto files is shared with the server. Needs Debian's python3-grpcio and
python3-grpc-tools (run it with /usr/bin/python3).

    /usr/bin/python3 examples/python_client/checkin.py --server 127.0.0.1:50051 \\
        --tenant t1 --device-id ApplX --user-agent Apple-iPhone4C1/1001.403

For a server that requires authentication, give the bearer token in a file (--token-file) or in
the HIJACKGUARD_TOKEN environment variable, and use TLS with --tls-ca (the CA that signs the
server's certificate); --tls-cert and --tls-key add a client certificate (mutual TLS):

    HIJACKGUARD_TOKEN=... /usr/bin/python3 examples/python_client/checkin.py \\
        --server plugin.example:50051 --tls-ca ca.pem --tenant acme

Prints the response as proto3 JSON. Exit status: 0 on success, 1 when the call failed, 2 on
usage errors (including unreadable --token-file or TLS files).
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


def read_token(token_file):
    """The bearer token from token_file, else from $HIJACKGUARD_TOKEN; "" when there is none.

    Trailing whitespace (the newline an editor or `echo` leaves) is not part of the token.
    Raises ValueError when the file holds no token or the token cannot go in a header.
    """
    if token_file:
        with open(token_file, encoding="utf-8") as f:
            token = f.read().rstrip()
        if not token:
            raise ValueError(f"--token-file {token_file} holds no token")
    else:
        token = os.environ.get("HIJACKGUARD_TOKEN", "").rstrip()
    # gRPC metadata values are visible ASCII; a token never needs more.
    if any(not "!" <= c <= "~" for c in token):
        source = "--token-file" if token_file else "HIJACKGUARD_TOKEN"
        raise ValueError(f"the token from {source} holds a character not allowed in a header")
    return token


def read_file(path):
    """The bytes of path, or None when path is not given."""
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


def channel_credentials(args):
    """TLS credentials when --tls-ca or --tls-cert is given, else None (plaintext)."""
    if not args.tls_ca and not args.tls_cert:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=read_file(args.tls_ca),  # None: the system's default roots
        private_key=read_file(args.tls_key),
        certificate_chain=read_file(args.tls_cert))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="plugin address host:port")
    parser.add_argument("--tenant", default="example-tenant")
    parser.add_argument("--device-id", default="ApplDMPFXZABDFHW", help="EAS DeviceId")
    parser.add_argument("--user", default="alice@example.com", help="user principal name")
    parser.add_argument("--user-agent", default="Apple-iPhone4C1/1001.403")
    parser.add_argument("--device-os", default="")
    parser.add_argument("--proto-root", default=PROTO_ROOT)
    parser.add_argument("--token-file", metavar="FILE",
                        help="file holding the bearer token (default: the HIJACKGUARD_TOKEN "
                             "environment variable)")
    parser.add_argument("--tls-ca", metavar="FILE",
                        help="PEM CA bundle to verify the server (enables TLS)")
    parser.add_argument("--tls-cert", metavar="FILE",
                        help="PEM client certificate chain (mutual TLS; needs --tls-key)")
    parser.add_argument("--tls-key", metavar="FILE",
                        help="PEM client private key (mutual TLS; needs --tls-cert)")
    args = parser.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    try:
        token = read_token(args.token_file)
        credentials = channel_credentials(args)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    # The server reads the token from the `authorization` metadata of every call.
    metadata = (("authorization", "Bearer " + token),) if token else None

    with tempfile.TemporaryDirectory(prefix="hijackguard-stubs-") as out_dir:
        pb2, pb2_grpc = generate_stubs(args.proto_root, out_dir)
        request = pb2.CheckInRequest(
            tenant_id=args.tenant,
            device=pb2.DeviceIdentity(eas_device_id=args.device_id, user_principal=args.user),
            eas=pb2.EasClient(user_agent=args.user_agent, device_os=args.device_os),
        )
        if credentials is None:
            channel = grpc.insecure_channel(args.server)
        else:
            channel = grpc.secure_channel(args.server, credentials)
        with channel:
            stub = pb2_grpc.CompliancePluginStub(channel)
            try:
                # Always set a deadline: a check-in must not hang on the plugin.
                response = stub.CheckIn(request, timeout=5, metadata=metadata)
            except grpc.RpcError as error:
                print(f"CheckIn failed: {error.code().name}: {error.details()}", file=sys.stderr)
                return 1
        print(json_format.MessageToJson(response))
    return 0


if __name__ == "__main__":
    sys.exit(main())
