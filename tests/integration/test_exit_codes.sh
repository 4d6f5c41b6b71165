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

# --help states the same table.
out=$(ctl --help 2>&1)
check "--help names exit 2 for an unknown run or session" has "$out" "an unknown tool, run, session"
stop_agentd
finish
