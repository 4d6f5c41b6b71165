#!/bin/sh
# test_stop.sh — a graceful stop (SIGTERM) in the middle of a run, then a
# restart: the run is recorded as interrupted (an `interrupted` event, no
# `end`), resumes at the next start (a `resumed` event), ends exactly once,
# and `agentctl attach` after the restart follows it to its real end.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
S="$(dirname "$0")/scenarios"
W="$T/repo"
make_repo "$W"

# events: the run's stored event types, one per line
events() {
	"$PYTHON3" -c "import sqlite3,sys; print('\n'.join(r[0] for r in sqlite3.connect('file:%s?mode=ro' % sys.argv[1], uri=True).execute('select type from events where run_id=1 order by seq')))" "$STATE/agentd.db"
}
count() { events | grep -cx "$1"; }

start_mock "$S/stop.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --detach --workspace "$W" "look around and write notes" > /dev/null
# stop it after its second tool result, with turns left to go: the next
# model answer (read_file) stalls 3 s, so the stop lands while it is awaited
# even on a busy machine. (Landing during the shell call instead, it would
# close that call as "outcome unknown", never run it twice, and the shell's
# marker could be missing: correct, but not what this test pins.)
k=0
while [ "$(count tool_result)" -lt 2 ] && [ $k -lt 600 ]; do sleep 0.05; k=$((k + 1)); done
stop_agentd
st=$("$PYTHON3" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select status from runs where id=1').fetchone()[0])" "$STATE/agentd.db")
check "SIGTERM mid-run: the run is interrupted ($st)" test "$st" = interrupted
check "an interrupted run has an interrupted event" test "$(count interrupted)" = 1
check "an interrupted run has no end event yet" test "$(count end)" = 0

start_agentd --llm-url "$MOCK_URL" || exit 1
out=$(timeout 60 "$AGENTCTL" --socket "$SOCK" attach 1 2>"$T/attach.err")
rc=$?
check "attach after the restart follows the run to its end (exit $rc)" test $rc -eq 0
check "attach shows the real answer" has "$out" "Notes written."
check "the resumed run has a resumed event" test "$(count resumed)" = 1
check "the run has exactly one end event ($(count end))" test "$(count end)" = 1
check "the end is the run's last event" test "$(events | tail -n 1)" = end
check "the run succeeded" has "$(ctl show 1 --json)" '"status":"succeeded"'
check "the shell call ran once" test "$(grep -c one "$W/marker.txt")" = 1
show=$(ctl show 1)
check "show: the fixed prompt, counted by the server" has "$show" "counted by the model server"
check "show: the share served from the prompt cache" has "$show" "prompt cache:"
stop_agentd
stop_mock
finish
