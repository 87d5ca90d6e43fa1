// gRPC's own log. Left alone, gRPC writes its internal errors to stderr as
// one long line of nested status (file names, timestamps, errno): for a port
// in use or a failed TLS handshake a user sees that dump next to
// hijackguard's own explanation. These route it through common/log.h; with
// GRPC_VERBOSITY or GRPC_TRACE set (debugging gRPC itself) they do nothing.
#pragma once

namespace hijackguard::plugin {

// Drops gRPC's log lines, except a failed internal assertion (gRPC aborts
// after it). For the client commands, which report each call's status
// themselves, and for the server while it starts (it names what failed).
// Call before anything creates a gRPC object.
void QuietGrpcLog();

// Forwards gRPC's errors as one WARN line each, "grpc: <message>", cut
// before gRPC's nested status dump; at most 20 lines a minute, and the next
// line says how many were left out. For a running server: a client whose
// TLS handshake fails is worth a line, a flood of them is not.
void ForwardGrpcLog();

}  // namespace hijackguard::plugin
