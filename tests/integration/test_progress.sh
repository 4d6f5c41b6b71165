#!/bin/sh
# test_progress.sh — `agentctl run` on a terminal (a pty from script(1))
# shows one refreshed status line while the model thinks and while a tool
# runs, erased before anything else is printed; nothing of it when stderr is
# not a terminal, with --json, or with -q (which prints only the answer).
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed"
command -v script >/dev/null || skip_all "script(1) is needed for a terminal"
export HOME="$T/home" TERM=xterm
mkdir -p "$HOME" "$T/ws"
start_mock "$(dirname "$0")/scenarios/slow.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1

script -qec "'$AGENTCTL' --socket '$SOCK' run --workspace '$T/ws' 'go slowly'" /dev/null > "$T/tty.out" 2>&1
check "on a terminal the run succeeds" grep -q "Finished slowly." "$T/tty.out"
check "a status line while the model thinks" grep -q "waiting for the model [1-9] s" "$T/tty.out"
check "a status line while the tool runs" grep -q "shell running [1-9] s" "$T/tty.out"
check "the status line is erased (carriage return, erase line)" grep -q "$(printf '\r\033\\[K')" "$T/tty.out"
check "the status line does not stay on the last line" \
	sh -c "tail -c 200 '$T/tty.out' | tr '\r' '\n' | tail -n 3 | grep -qv 'running\|waiting'"

"$AGENTCTL" --socket "$SOCK" run --workspace "$T/ws" "go slowly" > "$T/pipe.out" 2> "$T/pipe.err"
check "not a terminal: no status line" sh -c "! grep -q 'waiting for the model\|running [0-9]' '$T/pipe.err'"
check "not a terminal: no carriage returns" sh -c "! grep -q \"\$(printf '\r')\" '$T/pipe.err'"
script -qec "'$AGENTCTL' --socket '$SOCK' run -q --workspace '$T/ws' 'go slowly'" /dev/null > "$T/q.out" 2>&1
check "-q on a terminal: the answer" grep -q "Finished slowly." "$T/q.out"
check "-q: no status line, no tool lines" sh -c "! grep -q 'waiting\|running\|→ shell' '$T/q.out'"
script -qec "'$AGENTCTL' --socket '$SOCK' run --json --workspace '$T/ws' 'go slowly'" /dev/null > "$T/j.out" 2>&1
check "--json on a terminal: no status line" sh -c "! grep -q 'waiting for the model' '$T/j.out'"
stop_agentd
stop_mock
finish
