#!/bin/sh
# test_small_disk.sh — a run of many steps finishes with its state directory
# on a 4 MiB tmpfs: the journal's WAL is checkpointed and kept small instead
# of growing until the disk is full. Prints the largest WAL seen. Needs root.
. "$(dirname "$0")/lib.sh"
small_disk "$T/small" 4m
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
W="$T/repo"
make_repo "$W"
STEPS=${SMALL_DISK_STEPS:-120}
# a file of 3 KB of varied text, read at every step
"$PYTHON3" -c "import random; random.seed(1); print('\n'.join(' '.join(random.choice(['alpha','beta','gamma','delta','eps%d' % i]) for i in range(12)) for _ in range(50)))" > "$W/data.txt"
"$PYTHON3" -c "
import json, sys
n = int(sys.argv[1])
turns = [{'tool_calls': [{'name': 'read_file', 'arguments': {'path': 'data.txt'}}]} for _ in range(n)]
turns.append({'content': 'All done.'})
print(json.dumps({'n_ctx': 32768, 'turns': turns}))" "$STEPS" > "$T/many.json"
STATE="$T/small/state"
start_mock "$T/many.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
# watch the WAL while the run goes on
( while :; do stat -c %s "$STATE/agentd.db-wal" 2>/dev/null; sleep 0.05; done ) > "$T/wal.sizes" &
WATCH=$!
timeout 300 "$AGENTCTL" --socket "$SOCK" run --max-steps $((STEPS + 5)) --max-tokens 1000000000 --workspace "$W" "read it many times" > "$T/run.out" 2> "$T/run.err"
rc=$?
kill "$WATCH"; wait "$WATCH" 2>/dev/null
max=$(sort -n "$T/wal.sizes" | tail -1)
db=$(stat -c %s "$STATE/agentd.db")
echo "# $STEPS steps: largest WAL seen ${max:-0} bytes, database $db bytes, WAL after the run $(stat -c %s "$STATE/agentd.db-wal" 2>/dev/null || echo 0) bytes"
check "the run of $STEPS steps finishes on a 4 MiB disk (exit $rc: $(tail -1 "$T/run.err"))" test "$rc" -eq 0
check "the WAL stayed under 2 MiB" test "${max:-0}" -lt 2097152
check "the daemon still serves" ctl status
stop_agentd
stop_mock
finish
