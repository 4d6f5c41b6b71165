#!/bin/sh
# test_unprivileged.sh — the whole path as an ordinary user: agentd and
# agentctl run as uid 65534 (the test drops to it), a run with the shell
# tool inside the sandbox, a commit, and the peer check between users.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed"
[ "$(id -u)" = 0 ] || skip_all "runs as root and drops to uid 65534 itself"
command -v setpriv >/dev/null || skip_all "setpriv (util-linux) is needed"
chmod 0755 "$T"
U="$T/u"
mkdir -p "$U/bin" "$U/home"
cp "$AGENTD" "$AGENTCTL" "$MOCK" "$U/bin/"
cp "$(dirname "$0")/scenarios/seven_turns.json" "$U/"
chown -R 65534:65534 "$U"
as_user() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$U/home" "$@"; }
# The configured python3 may live under /root (pyenv shims); the other uid needs the system one.
PY=/usr/bin/python3
[ -x "$PY" ] || skip_all "/usr/bin/python3 is needed for the other uid"

as_user sh -c "cd '$U' && git init -q -b main repo && git -C repo config user.name U &&
	git -C repo config user.email u@example.com && echo hello > repo/README.md &&
	git -C repo add . && git -C repo commit -q -m init"
# Started without a shell function in between, so that $! is the process itself
# (setpriv and env exec) and cleanup can stop it.
setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$U/home" \
	"$PY" "$U/bin/mock_llm.py" --scenario "$U/seven_turns.json" --port 0 \
	--port-file "$U/port" > "$U/mock.out" 2>&1 &
MOCK_PID=$!
wait_for test -s "$U/port"
setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$U/home" \
	"$U/bin/agentd" --socket "$U/s.sock" --state-dir "$U/state" \
	--llm-url "http://127.0.0.1:$(cat "$U/port")/v1" > "$U/agentd.log" 2>&1 &
AGENTD_PID=$!
wait_for as_user "$U/bin/agentctl" --socket "$U/s.sock" status
check "agentd runs as uid 65534" as_user "$U/bin/agentctl" --socket "$U/s.sock" status
as_user "$U/bin/agentctl" --socket "$U/s.sock" run --workspace "$U/repo" "write notes" > "$U/run.out" 2> "$U/run.err"
check "a run as uid 65534 succeeds" test $? -eq 0
check "its shell command ran in the sandbox" test "$(cat "$U/repo/marker.txt" 2>/dev/null)" = ran
check "its commit is there" test "$(as_user git -C "$U/repo" log -1 --format=%s)" = "Add notes"
check "the socket belongs to uid 65534, mode 0600" test "$(stat -c '%u %a' "$U/s.sock")" = "65534 600"
check "root may still connect (SO_PEERCRED allows root)" "$AGENTCTL" --socket "$U/s.sock" status
stop_agentd
stop_mock
finish
