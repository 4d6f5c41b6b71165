#!/bin/sh
# test_stop_grace.sh — SIGTERM while a shell tool call runs: the call goes
# on to its end within stop_grace_s (default 10 s), its result is recorded,
# nothing new starts, and the resumed run goes on from that result without
# running it again. Past the grace, or at a second SIGTERM, the call is
# stopped at once and recorded as stopped (as before there was a grace).
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
S="$(dirname "$0")/scenarios"

# q SQL: one value from the journal
q() { "$PYTHON3" -c "import sqlite3,sys; r=sqlite3.connect('file:%s?mode=ro' % sys.argv[1], uri=True).execute(sys.argv[2]).fetchone(); print(r[0] if r else '')" "$STATE/agentd.db" "$1"; }
# wait_started FILE: the call has begun (it writes "start" first)
wait_started() { k=0; while ! grep -q start "$1" 2>/dev/null && [ $k -lt 600 ]; do sleep 0.05; k=$((k + 1)); done; }
now() { "$PYTHON3" -c 'import time; print(time.time())'; }
# term_wait: SIGTERM, then the seconds until agentd has exited, and its status
term_wait() {
	t0=$(now)
	kill -TERM "$AGENTD_PID"
	wait "$AGENTD_PID"; EXIT=$?
	AGENTD_PID=
	ELAPSED=$("$PYTHON3" -c "print(round($(now) - $t0, 2))")
}
hasnt() { ! has "$1" "$2"; }
# begin DIR SCENARIO MARKER [agentd options]: a fresh journal, a repository,
# the scripted model and agentd; a run started, its first call begun
begin() {
	W="$T/$1"; sc=$2; marker=$3; shift 3
	rm -rf "$STATE"
	make_repo "$W"
	start_mock "$S/$sc" || exit 1
	start_agentd --llm-url "$MOCK_URL" "$@" || exit 1
	ctl run --detach --workspace "$W" "do it" > /dev/null
	wait_started "$W/$marker"
}

# 1. Default grace: the call finishes, its result is kept.
begin repo1 stop_grace.json marker.txt
t0=$(now)
kill -TERM "$AGENTD_PID"
sleep 0.3
# while the call finishes, clients hear at once that agentd is stopping
ctl status > "$T/status.out" 2>&1; st_rc=$?
check "a client during the stop is turned away ($st_rc)" test $st_rc -ne 0
check "at once, while the call still runs" test "$(grep -c one "$W/marker.txt")" = 0
wait "$AGENTD_PID"; EXIT=$?
AGENTD_PID=
ELAPSED=$("$PYTHON3" -c "print(round($(now) - $t0, 2))")
check "agentd exits 0 after the call in flight ($EXIT)" test "$EXIT" = 0
check "it waited for the call (~3 s): ${ELAPSED}s" "$PYTHON3" -c "import sys; sys.exit(not 1.0 < $ELAPSED < 9.0)"
check "the call ran to its end" test "$(grep -c one "$W/marker.txt")" = 1
check "nothing new started after the stop" test "$(grep -c two "$W/marker.txt")" = 0
check "the run is interrupted" test "$(q 'select status from runs where id=1')" = interrupted
res=$(q "select content from messages where run_id=1 and role='tool' order by seq limit 1")
check "the call's real result is recorded" has "$res" "slept"
check "not as a stopped call" hasnt "$res" "stopped"
grep -q "tool calls in flight may finish" "$T/agentd.log"
check "the log says the stop waits for calls in flight" test $? = 0
start_agentd --llm-url "$MOCK_URL" || exit 1
out=$(timeout 60 "$AGENTCTL" --socket "$SOCK" attach 1 2>"$T/attach.err")
check "the resumed run ends (exit $?)" has "$out" "Done."
check "the finished call did not run again" test "$(grep -c start "$W/marker.txt")" = 1
check "the next call ran once, after the resume" test "$(grep -c two "$W/marker.txt")" = 1
check "the run succeeded" has "$(ctl show 1 --json)" '"status":"succeeded"'
stop_agentd
stop_mock

# 2. Past the grace the call is stopped and said to be (stop_grace_s 1).
printf '{"stop_grace_s": 1}\n' > "$T/cfg.json"
begin repo2 stop_grace_long.json marker2.txt --config "$T/cfg.json"
term_wait
check "past the grace agentd exits 0 ($EXIT)" test "$EXIT" = 0
check "after about the grace, not the call's 30 s: ${ELAPSED}s" "$PYTHON3" -c "import sys; sys.exit(not $ELAPSED < 15.0)"
check "the call was stopped" test "$(grep -c late "$W/marker2.txt")" = 0
res=$(q "select content from messages where run_id=1 and role='tool' order by seq limit 1")
check "and recorded as stopped while it ran" has "$res" "agentd was stopped while it ran"
stop_mock

# 3. A second SIGTERM stops the call at once (default grace).
begin repo3 stop_grace_long.json marker2.txt
t0=$(date +%s)
kill -TERM "$AGENTD_PID"
sleep 1
kill -TERM "$AGENTD_PID"
wait "$AGENTD_PID"; EXIT=$?
AGENTD_PID=
t1=$(date +%s)
check "a second SIGTERM: agentd exits 0 ($EXIT)" test "$EXIT" = 0
check "at once, not after the 10 s grace ($((t1 - t0)) s)" test $((t1 - t0)) -lt 8
check "the call was stopped" test "$(grep -c late "$W/marker2.txt")" = 0
stop_mock
finish
