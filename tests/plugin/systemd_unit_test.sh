#!/usr/bin/env bash
# examples/systemd/hijackguard.service, checked as systemd reads it, and the pid file it relies
# on, with the built binary.
#
#   systemd_unit_test.sh BINARY SOURCE_DIR
#
# 1. `systemd-analyze verify` on the unit (ExecStart pointed at BINARY) prints nothing: it exits 0
#    on a misspelt key, so any output is a failure.
# 2. `systemd-analyze security --offline=yes --threshold=12` passes. 12 (1.2 on systemd's 0-10
#    scale) is the unit's exposure as shipped: 1.0 of it is the network the server exists for
#    (PrivateNetwork, AF_INET/AF_INET6, no IPAddressAllow since callers' addresses are the
#    site's), 0.1 AF_UNIX (Unix-socket listeners), 0.1 the host's root directory. Loosening any
#    other hardening option raises it and fails the test.
# 3. The options the unit promises are there (ExecReload, Restart=on-failure, UMask=0077, ...).
# 4. `serve --pid-file` writes the server's pid once it serves, `kill -HUP "$(cat FILE)"` (what
#    ExecReload does) reloads, and SIGTERM removes the file.
set -euo pipefail
binary=$(realpath "$1")
source=$(realpath "$2")
unit="$source/examples/systemd/hijackguard.service"
work=$(mktemp -d /tmp/hijackguard-systemd-XXXXXX)
server=""
cleanup() {
  if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then kill -9 "$server"; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze is not installed; skipped"
  exit 77
fi

sed "s|/usr/local/bin/hijackguard|$binary|g" "$unit" > "$work/hijackguard.service"
grep -q "$binary serve" "$work/hijackguard.service" || fail "ExecStart does not run /usr/local/bin/hijackguard"

out=$(systemd-analyze verify "$work/hijackguard.service" 2>&1) || fail "systemd-analyze verify failed: $out"
[[ -z "$out" ]] || fail "systemd-analyze verify printed: $out"

systemd-analyze security --offline=yes --threshold=12 "$work/hijackguard.service" > "$work/security.txt" 2>&1 \
  || fail "exposure above 1.2: $(tail -n 1 "$work/security.txt")"

for option in 'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure' 'UMask=0077' \
              'NoNewPrivileges=yes' 'ProtectSystem=strict' 'StateDirectory=hijackguard' \
              'PIDFile=/run/hijackguard/hijackguard.pid' '--pid-file /run/hijackguard/hijackguard.pid'; do
  grep -qF -- "$option" "$unit" || fail "the unit lacks $option"
done

# The pid file, as the unit uses it.
cat > "$work/hg.json" <<JSON
{"listen": "127.0.0.1:0", "policy": "$source/examples/policies/default.json", "state_dir": "$work/var"}
JSON
mkdir -p "$work/run"  # the unit's RuntimeDirectory
"$binary" serve --config "$work/hg.json" --pid-file "$work/run/hg.pid" > "$work/out" 2> "$work/err" &
server=$!
for _ in $(seq 100); do [[ -s "$work/run/hg.pid" ]] && break; sleep 0.1; done
[[ -s "$work/run/hg.pid" ]] || fail "no pid file: $(cat "$work/err")"
[[ "$(cat "$work/run/hg.pid")" == "$server" ]] || fail "the pid file holds $(cat "$work/run/hg.pid"), not $server"
kill -HUP "$(cat "$work/run/hg.pid")"
for _ in $(seq 50); do grep -q "SIGHUP: policy" "$work/err" && break; sleep 0.1; done
grep -q "SIGHUP: policy file .* unchanged since it was last read" "$work/err" || fail "SIGHUP did not reload: $(cat "$work/err")"
kill -TERM "$server"
wait "$server" || fail "serve exited $? after SIGTERM"
server=""
[[ ! -e "$work/run/hg.pid" ]] || fail "the pid file is still there after exit"
echo "systemd unit: verify silent, exposure within 1.2, pid file and reload ok"
