#!/bin/sh
# test_exit_codes.sh — walks the EXIT STATUS table of agentctl(1): each row's
# cases exit with its code, and errors name what the user named (run 99: no
# such run), never an internal method name.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/ws" && printf 'hi\n' >"$T/ws/a.txt"
cd "$T/ws" || exit 1

code() { # code "description" expected-rc command...
	desc=$1 want=$2; shift 2
	out=$(ctl "$@" 2>&1 >/dev/null)
	rc=$?
	check "$desc exits $want (got $rc: $out)" test $rc -eq "$want"
	check "$desc names no method" lacks "$out" ".get:"
}

# 2: no daemon.
code "status with no daemon" 2 status
start_agentd --llm-url http://127.0.0.1:9/v1 || exit 1
# 0
code "status" 0 status
code "tool read_file a.txt" 0 tool read_file '{"path":"a.txt"}'
# 1: a tool reported an error.
code "tool read_file on a missing file" 1 tool read_file '{"path":"nofile"}'
# 2: usage, bad arguments, unknown things.
code "an unknown command" 2 frobnicate
code "runs --limit abc" 2 runs --limit abc
code "tool read_file '{}'" 2 tool read_file '{}'
code "tool read_file with a wrong type" 2 tool read_file '{"path":5}'
code "tool nope" 2 tool nope '{}'
code "show 99" 2 show 99
code "show s99" 2 show s99
code "export s99" 2 export s99
code "cancel 99" 2 cancel 99
out=$(ctl show 99 2>&1)
check "show 99 says 'run 99: no such run'" has "$out" "run 99: no such run"
out=$(ctl show s99 2>&1)
check "show s99 says 'session 99: no such session'" has "$out" "session 99: no such session"
out=$(ctl tool read_file '{}' 2>&1)
check "tool read_file '{}' names the argument" has "$out" "'path'"
out=$(ctl tool nope '{}' 2>&1)
check "tool nope does not send the user to a method" lacks "$out" "tools.list"

# agentctl sandbox's own table: the command's code, 128+N, 2, 125-127.
code "sandbox -- true" 0 sandbox --workspace "$T/ws" -- true
code "sandbox -- sh -c 'exit 3'" 3 sandbox --workspace "$T/ws" -- sh -c 'exit 3'
code "sandbox on a missing workspace (usage, not a missing command)" 2 \
	sandbox --workspace "$T/nonexist" -- ls
out=$(ctl sandbox --workspace "$T/nonexist" -- ls 2>&1)
check "... naming the workspace" has "$out" "--workspace $T/nonexist: no such directory"
code "sandbox on a file as workspace" 2 sandbox --workspace "$T/ws/a.txt" -- ls
code "sandbox of a command that is not there" 127 sandbox --workspace "$T/ws" -- no-such-cmd-x
out=$(ctl sandbox --workspace "$T/ws" --timeout 1 -- sleep 30 2>&1)
rc=$?
check "a sandbox timeout exits 137 (got $rc)" test $rc -eq 137
check "... and says it timed out" has "$out" "timed out after 1 s"
"$AGENTCTL" sandbox --workspace "$T/ws" -- sleep 30 >"$T/int.out" 2>&1 &
sp=$!
wait_for sh -c "pgrep -f 'agentctl sandbox --workspace $T/ws -- sleep 30' >/dev/null"
sleep 0.3
kill -INT "$sp"
wait "$sp"
rc=$?
check "Ctrl-C (SIGINT) of agentctl sandbox exits 130 (got $rc)" test $rc -eq 130
check "... and says why" grep -q "got Interrupt" "$T/int.out"
# A host /proc partly covered (a container's masked paths): as root, the run's
# user namespace gets no /proc of its own; set-up fails, 125, saying why.
if [ "$(id -u)" = 0 ] && [ -e /proc/keys ] && unshare -m true 2>/dev/null; then
	# Every proc mount is covered: one left whole anywhere (a chroot's being
	# set up) is enough for the kernel to allow a new one.
	out=$(unshare -m sh -c 'mount --make-rprivate / &&
	    for m in $(awk "{for (i = 7; i < NF; i++) if (\$i == \"-\") { if (\$(i + 1) == \"proc\") print \$5; break }}" /proc/self/mountinfo); do
		[ -e "$m/keys" ] && { mount --bind /dev/null "$m/keys" || exit 99; }
	    done &&
	    exec "$0" sandbox --workspace "$1" -- touch "$1/masked"' "$AGENTCTL" "$T/ws" 2>&1)
	rc=$?
	check "sandbox with the host's /proc partly covered exits 125 (got $rc)" test $rc -eq 125
	check "... names the masked /proc" has "$out" "masked paths"
	check "... and the command did not run" test ! -e "$T/ws/masked"
else
	ok "# SKIP a covered /proc needs root and unshare -m"
fi

# --help states the same table.
out=$(ctl --help 2>&1)
check "--help names exit 2 for an unknown run or session" has "$out" "an unknown tool, run, session"
stop_agentd

# 130: a run cancelled by Ctrl-C (the first SIGINT cancels it and waits for its end).
start_mock "$top_srcdir/tests/integration/scenarios/slow.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
make_repo "$T/repo"
"$AGENTCTL" --socket "$SOCK" run --workspace "$T/repo" "slow task" >"$T/run.out" 2>&1 &
rp=$!
wait_for sh -c "'$AGENTCTL' --socket '$SOCK' runs | grep -q running"
kill -INT "$rp"
wait "$rp"
rc=$?
check "Ctrl-C of agentctl run exits 130 (got $rc)" test $rc -eq 130
check "... after cancelling the run" sh -c "'$AGENTCTL' --socket '$SOCK' runs | grep -q cancelled"
stop_agentd
stop_mock
finish
