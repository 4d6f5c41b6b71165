#!/bin/sh
# test_disk_full.sh — the journal's disk fills up under a running daemon: runs
# fail with a clear reason (never hang), the daemon keeps serving what it can,
# and the database stays intact. Needs root for a small tmpfs.
. "$(dirname "$0")/lib.sh"
small_disk "$T/full" 2m
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
W="$T/repo"
make_repo "$W"
"$PYTHON3" -c "import json; print(json.dumps({'repeat_last': True, 'turns': [{'content': 'word ' * 20000}]}))" > "$T/big.json"
STATE="$T/full/state"
start_mock "$T/big.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1

failed=
for i in $(seq 1 30); do
	timeout 60 "$AGENTCTL" --socket "$SOCK" run --workspace "$W" "question $i" > /dev/null 2> "$T/run-$i.err"
	rc=$?
	if [ $rc -eq 124 ]; then failed=hang; break; fi
	if [ $rc -ne 0 ]; then failed=$i; break; fi
done
check "a run fails once the disk is full (not a hang: '$failed')" sh -c "[ -n '$failed' ] && [ '$failed' != hang ]"
check "the failure says the disk is full" grep -qi "full" "$T/run-$failed.err"
check "the daemon keeps serving status" ctl status
check "the daemon keeps serving listings" ctl runs --json
ok_runs=$(ctl runs --status succeeded --json | "$PYTHON3" -c 'import json,sys; print(len(json.load(sys.stdin)))')
check "the runs that finished before the disk filled are kept ($ok_runs)" test "$ok_runs" -eq $((failed - 1))
check "the database is intact" "$PYTHON3" -c "import sqlite3,sys; assert sqlite3.connect(sys.argv[1]).execute('pragma integrity_check').fetchone()[0]=='ok'" "$STATE/agentd.db"
stop_agentd
stop_mock
finish
