#!/bin/sh
# test_systemd.sh — agentd under systemd's conventions: the shipped units pass
# `systemd-analyze verify`; started by `systemd-socket-activate` on a socket
# it did not make, agentd serves it, reports it (not its default path) and
# tells the service manager READY=1, RELOADING=1 then READY=1 on SIGHUP and
# STOPPING=1 on SIGTERM; a clean stop leaves no lock file behind.
. "$(dirname "$0")/lib.sh"

command -v systemd-socket-activate >/dev/null 2>&1 ||
	skip_all "systemd-socket-activate is not installed (Debian: systemd)"
command -v systemd-analyze >/dev/null 2>&1 || skip_all "systemd-analyze is not installed"

# --- the units as make built them, pointed at this build's agentd ---
U="$T/units"
mkdir -p "$U/user" "$U/system" "$T/xdg-runtime"
chmod 700 "$T/xdg-runtime"
bindir_re='s|^ExecStart=[^ ]*/agentd|ExecStart='"$top_builddir"'/agentd|'
sed -e "$bindir_re" "$top_builddir/daemon/systemd/agentd.service" > "$U/user/agentd.service"
cp "$top_srcdir/daemon/systemd/agentd.socket" "$U/user/agentd.socket"
sed -e "$bindir_re" "$top_builddir/daemon/systemd/system/agentd.service" > "$U/system/agentd.service"
cp "$top_srcdir/daemon/systemd/system/agentd.socket" "$U/system/agentd.socket"
check "the units are of type notify" grep -q '^Type=notify' "$U/user/agentd.service"
check "the unit runs the installed agentd, not a placeholder" \
	sh -c "! grep -q '@bindir@' '$top_builddir/daemon/systemd/agentd.service'"
# --man=no: the man pages are checked by their own test; they are not
# installed where man looks while the suite runs.
if XDG_RUNTIME_DIR="$T/xdg-runtime" systemd-analyze --user --man=no verify \
	"$U/user/agentd.service" "$U/user/agentd.socket" >"$T/verify-user.out" 2>&1; then
	ok "systemd-analyze verify: user units"
else
	not_ok "systemd-analyze verify: user units"; cat "$T/verify-user.out"
fi
if systemd-analyze --man=no verify "$U/system/agentd.service" "$U/system/agentd.socket" \
	>"$T/verify-system.out" 2>&1; then
	ok "systemd-analyze verify: system units"
else
	not_ok "systemd-analyze verify: system units"; cat "$T/verify-system.out"
fi

# --- socket activation and the notify protocol ---
cat > "$T/notify.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2], "w").close()
with open(sys.argv[3], "a") as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(msg.replace("\n", " | ") + "\n")
        out.flush()
PY
"$PYTHON3" "$T/notify.py" "$T/notify.sock" "$T/notify.ready" "$T/notify.log" &
NOTIFY_PID=$!
wait_for test -e "$T/notify.ready" || { not_ok "the notify listener did not start"; finish; exit 1; }

W="$T/repo"
make_repo "$W"
start_mock "$top_srcdir/tests/integration/scenarios/answer.json" || exit 1
ASOCK="$T/activated/agentd.sock"
mkdir -m 700 "$T/activated"
# agentd's own default would be $XDG_RUNTIME_DIR/agentd.sock: elsewhere.
XDG_RUNTIME_DIR="$T/xdg-runtime" NOTIFY_SOCKET="$T/notify.sock" \
	systemd-socket-activate -E NOTIFY_SOCKET -l "$ASOCK" "$AGENTD" --state-dir "$STATE" \
	--llm-url "$MOCK_URL" --log-level debug >>"$T/agentd.log" 2>&1 &
ACT_PID=$!
wait_for test -S "$ASOCK" || not_ok "systemd-socket-activate made no socket"
st=$("$AGENTCTL" --socket "$ASOCK" status --json 2>&1)
check "the activated daemon answers on systemd's socket" has "$st" '"version"'
check "status reports the socket systemd made, not a default path" \
	test "$(json_get "$st" 'j.get("socket")')" = "$ASOCK"
wait_for grep -q READY=1 "$T/notify.log"
check "READY=1 once the socket is served" grep -q '^READY=1' "$T/notify.log"
check "the state dir lock names the activated socket" grep -qF "$ASOCK" "$STATE/agentd.pid"

out=$("$AGENTCTL" --socket "$ASOCK" run --workspace "$W" -q "check the repository" 2>&1)
check "a run works through the activated socket" has "$out" "nothing to do"

kill -HUP "$ACT_PID"
wait_for sh -c "grep -c READY=1 '$T/notify.log' | grep -qx 2"
check "SIGHUP: RELOADING=1 with MONOTONIC_USEC" grep -q '^RELOADING=1 | MONOTONIC_USEC=[0-9]' "$T/notify.log"
check "SIGHUP: READY=1 again after the reload" sh -c "sed -n '/RELOADING/,\$p' '$T/notify.log' | grep -q '^READY=1'"

kill -TERM "$ACT_PID"
wait "$ACT_PID"
rc=$?
check "SIGTERM: a clean exit" test "$rc" -eq 0
check "SIGTERM: STOPPING=1" grep -q '^STOPPING=1' "$T/notify.log"
locks=$(find "$T" -name '*.lock' -o -name agentd.pid 2>/dev/null)
check "a clean stop leaves no lock file behind" test -z "$locks"
check "the activated socket is systemd's: agentd does not remove it" test -S "$ASOCK"
kill "$NOTIFY_PID" 2>/dev/null
stop_mock

# A bad activation (fd 3 is not a listening socket) is refused with the fix.
# LISTEN_PID must be the daemon's own pid: a shell that execs it keeps its pid.
sh -c 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" --state-dir "$1" --socket "$2"' \
	"$AGENTD" "$T/state-bad" "$T/x.sock" 3<"$T/notify.py" >"$T/bad.out" 2>&1
rc=$?
check "fd 3 that is not a listening socket: refused" test "$rc" -ne 0
check "... saying what ListenStream must be" grep -q "not a listening Unix stream socket" "$T/bad.out"
finish
