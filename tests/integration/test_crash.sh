#!/bin/sh
# test_crash.sh — kill -9 agentd at many points of a scripted run, start it
# again, and check that the run resumes and ends succeeded, the journal is
# intact, nothing committed was lost, and no side-effecting tool ran twice.
# The kill points sweep the run's timeline (model streaming is stalled 0.3 s
# per turn, shell calls take 0.3 s), so they land in streaming, in commits,
# before, during and after tools; each case reports where it landed.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
S="$(dirname "$0")/scenarios"
POINTS=${CRASH_POINTS:-22}

# snapshot DB OUT: committed messages and tool-call states, for later comparison
snapshot() {
	"$PYTHON3" - "$1" "$2" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
msgs = db.execute("select seq, role, coalesce(content,''), coalesce(tool_calls,''), coalesce(tool_call_id,'') from messages order by seq").fetchall()
last = db.execute("select type from events order by id desc limit 1").fetchone()
tools = db.execute("select call_id, name, status from tool_calls order by rowid").fetchall()
json.dump({"msgs": msgs, "last_event": last[0] if last else None, "tools": tools}, open(sys.argv[2], "w"))
PY
}

# verify DB BEFORE WORKSPACE: integrity, prefix kept, pairing, side effects once
verify() {
	"$PYTHON3" - "$1" "$2" "$3" <<'PY'
import json, sqlite3, sys, subprocess
db = sqlite3.connect(sys.argv[1])
assert db.execute("pragma integrity_check").fetchone()[0] == "ok", "integrity_check failed"
before = json.load(open(sys.argv[2]))
msgs = db.execute("select seq, role, coalesce(content,''), coalesce(tool_calls,''), coalesce(tool_call_id,'') from messages order by seq").fetchall()
msgs = [list(m) for m in msgs]
for i, m in enumerate(before["msgs"]):
    assert i < len(msgs) and msgs[i] == list(m), "committed message %s lost or changed" % (m[0],)
run = db.execute("select status, coalesce(reason,'') from runs where id=1").fetchone()
assert run[0] == "succeeded", "run ended %s: %s" % run
pending = []
for seq, role, content, calls, tcid in msgs:
    if role == "assistant":
        assert not pending, "unanswered calls before seq %d" % seq
        pending = [c["id"] for c in json.loads(calls or "[]")]
    elif role == "tool":
        assert tcid in pending, "stray tool message %s" % tcid
        pending.remove(tcid)
assert not pending
unknown = {r[0] for r in db.execute("select call_id from tool_calls where result like '%outcome of this call is unknown%'")}
shells = db.execute("select call_id, arguments from tool_calls where name='shell' order by rowid").fetchall()
marker = open(sys.argv[3] + "/marker.txt").read().split() if __import__("os").path.exists(sys.argv[3] + "/marker.txt") else []
for word in ("one", "two"):
    n = marker.count(word)
    ids = [c for c, a in shells if word in a]
    assert n <= 1, "shell '%s' ran %d times" % (word, n)
    if not any(i in unknown for i in ids):
        assert n == 1, "shell '%s' ran %d times (its result was recorded)" % (word, n)
log = subprocess.run(["git", "-C", sys.argv[3], "log", "--format=%s"], capture_output=True, text=True).stdout.split("\n")
commits = log.count("Add notes")
assert commits <= 1, "git_commit ran %d times" % commits
print("ok: %d messages, marker %s, commits %d, unknown outcomes %d" % (len(msgs), marker, commits, len(unknown)))
PY
}

i=1
while [ $i -le "$POINTS" ]; do
	W="$T/repo-$i"
	STATE="$T/state-$i"
	make_repo "$W"
	start_mock "$S/crash.json" || exit 1
	start_agentd --llm-url "$MOCK_URL" || exit 1
	ctl run --detach --workspace "$W" "make two changes and commit" > /dev/null
	delay=$(awk "BEGIN{print 0.05 + ($i - 1) * 0.125}")
	sleep "$delay"
	kill9_agentd
	snapshot "$STATE/agentd.db" "$T/before-$i.json"
	where=$(json_get "$(cat "$T/before-$i.json")" 'str(j["last_event"]) + ", " + str(len(j["msgs"])) + " messages, tools " + ",".join(t[1]+":"+t[2] for t in j["tools"])')
	start_agentd --llm-url "$MOCK_URL" || exit 1
	wait_until_end() {
		local k
		for k in $(seq 1 300); do
			st=$(ctl runs --json | "$PYTHON3" -c 'import json,sys; r=json.load(sys.stdin); print(r[0]["status"] if r else "")')
			case "$st" in succeeded|failed|cancelled|interrupted) return 0 ;; esac
			sleep 0.1
		done
		return 1
	}
	wait_until_end
	sleep 0.4	# a stray child would append to the marker by now
	stop_agentd
	if out=$(verify "$STATE/agentd.db" "$T/before-$i.json" "$W" 2>&1); then
		ok "kill at ${delay}s (after: $where): $out"
	else
		not_ok "kill at ${delay}s (after: $where): $out"
	fi
	stop_mock
	i=$((i + 1))
done
# SIGTERM mid-run: the run is stopped and recorded as interrupted, and it
# resumes to success when agentd starts again.
W="$T/repo-term"
STATE="$T/state-term"
make_repo "$W"
start_mock "$S/crash.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --detach --workspace "$W" "make two changes and commit" > /dev/null
sleep 0.8
stop_agentd
st=$("$PYTHON3" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select status||\':\'||coalesce(reason,\'\') from runs where id=1').fetchone()[0])" "$STATE/agentd.db")
check "SIGTERM records the active run as interrupted ($st)" has "$st" "interrupted:agentd was stopped"
start_agentd --llm-url "$MOCK_URL" || exit 1
wait_for sh -c "'$AGENTCTL' --socket '$SOCK' show 1 --json | grep -q '\"status\":\"succeeded\"'"
check "the interrupted run resumes and succeeds" has "$(ctl show 1 --json)" '"status":"succeeded"'
stop_agentd
stop_mock
finish
