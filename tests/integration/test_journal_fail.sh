#!/bin/sh
# test_journal_fail.sh — the journal's disk fills up in the middle of a run
# (a real full tmpfs under the state directory). The client hears "failed";
# then the listing, cancel, the journal once space returns, and a restart
# (with the disk still full, after kill -9) must all agree that the run
# failed, and nothing of it runs again: the scripted model's second step
# would write step2.txt. Needs root for the tmpfs.
. "$(dirname "$0")/lib.sh"
small_disk "$T/full" 4m
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
W="$T/repo"
make_repo "$W"
STATE="$T/full/state"
DB="$STATE/agentd.db"
S="$(dirname "$0")/scenarios"
# journal_status: the run's status as the journal has it (read-only)
journal_status() {
	"$PYTHON3" -c "import sqlite3,sys; print(sqlite3.connect('file:%s?mode=ro' % sys.argv[1], uri=True).execute('select status from runs where id=1').fetchone()[0])" "$DB"
}
listed_status() { ctl runs --json | "$PYTHON3" -c 'import json,sys; print([r["status"] for r in json.load(sys.stdin) if r["id"]==1][0])'; }
fill() { dd if=/dev/zero of="$T/full/filler" bs=64k 2>/dev/null; sync; }

start_mock "$S/journal_fail.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
timeout 60 "$AGENTCTL" --socket "$SOCK" run --workspace "$W" "two steps" > "$T/run.out" 2> "$T/run.err" &
RUN_PID=$!
check "the run reaches its first tool call" wait_for test -e "$W/waiting"
# A reader holding a snapshot keeps the WAL from being reset or cut, so the
# space the failed run's checkpoint would give back stays taken: the daemon
# cannot store the run's end until the reader goes (after the kill -9 below).
"$PYTHON3" -c "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('begin'); c.execute('select count(*) from runs').fetchone(); open(sys.argv[2],'w').close(); time.sleep(300)" "$DB" "$T/reader.ready" &
READER=$!
wait_for test -e "$T/reader.ready"
fill
touch "$W/go"
wait "$RUN_PID"
rc=$?
check "the client is told the run failed (exit $rc)" test "$rc" -eq 1
check "the client is told why (the disk is full)" grep -qi "full" "$T/run.err"
check "the daemon keeps serving" ctl status
check "agentctl runs shows the run failed, not running ($(listed_status 2>&1))" \
	test "$(listed_status)" = failed
check "agentctl runs --status failed lists it" sh -c "'$AGENTCTL' --socket '$SOCK' runs --status failed --json | grep -q '\"id\": *1[,}]'"
check "agentctl runs --status running does not" sh -c "! '$AGENTCTL' --socket '$SOCK' runs --status running --json | grep -q '\"id\": *1[,}]'"
ctl cancel 1 > "$T/cancel.out" 2> "$T/cancel.err"
check "cancel does not say the journal is unavailable" sh -c "! grep -q 32005 '$T/cancel.err'"
check "cancel reports the run as failed" grep -q "failed" "$T/cancel.err" "$T/cancel.out"
check "the second step never ran" test ! -e "$W/step2.txt"
ctl doctor > "$T/doctor.out" 2>&1
check "doctor says a run end waits beside the journal" grep -q "run end(s) wait beside it" "$T/doctor.out"

# kill -9 with the disk still full, start again on the same full disk
kill9_agentd
kill "$READER"; wait "$READER" 2>/dev/null
check "the journal could not take the end: it still says running" test "$(journal_status)" = running
check "the end was kept beside it" test -s "$DB-ends"
start_agentd --llm-url "$MOCK_URL" || exit 1
sleep 1
check "after a restart the run is listed failed ($(listed_status 2>&1))" test "$(listed_status)" = failed
check "after a restart the run was not resumed" sh -c "! grep -q 'resuming run 1' '$T/agentd.log'"
check "after a restart the second step never ran" test ! -e "$W/step2.txt"
# space comes back: the daemon stores the end it kept
rm -f "$T/full/filler"
journal_failed() { [ "$(journal_status 2>/dev/null)" = failed ]; }
check "once space returns the journal says failed" wait_for journal_failed
stop_agentd
start_agentd --llm-url "$MOCK_URL" || exit 1
check "after a second restart the run is still failed" test "$(listed_status)" = failed
check "and the second step never ran" test ! -e "$W/step2.txt"
check "the model was asked once (only the first step)" test "$(ctl runs --json | "$PYTHON3" -c 'import json,sys; print([r["steps"] for r in json.load(sys.stdin) if r["id"]==1][0])')" -le 1
check "the database is intact" "$PYTHON3" -c "import sqlite3,sys; assert sqlite3.connect(sys.argv[1]).execute('pragma integrity_check').fetchone()[0]=='ok'" "$DB"
stop_agentd
stop_mock
finish
