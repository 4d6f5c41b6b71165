#!/bin/sh
# test_run.sh — agentctl run end to end against the scripted model server:
# a 7-turn scenario (plan, list, read, shell, write, commit, answer) streamed
# and not, the stored transcript, and the faults that must end in a retry or
# a clear failure — never a hang or a silent success.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
S="$(dirname "$0")/scenarios"

transcript_ok() { # RUN-JSON-FILE: every tool message answers an issued id, in order
	"$PYTHON3" - "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
pending, issued = [], set()
for m in s["messages"]:
    if m["role"] == "assistant":
        assert not pending, "unanswered calls %s" % pending
        for c in m.get("tool_calls") or []:
            assert c["type"] == "function" and isinstance(c["function"]["arguments"], str)
            json.loads(c["function"]["arguments"])
            issued.add(c["id"]); pending.append(c["id"])
    elif m["role"] == "tool":
        assert m["tool_call_id"] in pending, "stray tool message %s" % m["tool_call_id"]
        pending.remove(m["tool_call_id"])
    elif m["role"] == "user":
        assert not pending
assert not pending
print(len(issued))
PY
}

for mode in stream nostream; do
	W="$T/repo-$mode"
	STATE="$T/state-$mode"
	make_repo "$W"
	start_mock "$S/seven_turns.json" || exit 1
	if [ $mode = stream ]; then start_agentd --llm-url "$MOCK_URL" || exit 1
	else start_agentd --llm-url "$MOCK_URL" --no-stream || exit 1; fi

	ctl run --workspace "$W" "Write notes about this repository and commit them" \
		> "$T/$mode.out" 2> "$T/$mode.err"
	rc=$?
	check "$mode: agentctl run exits 0" test $rc -eq 0
	check "$mode: the answer is on stdout" grep -q "NOTES.md written and committed" "$T/$mode.out"
	check "$mode: the plan was shown" grep -q "\[x\] Commit" "$T/$mode.err"
	check "$mode: tool calls were shown" grep -q "→ read_file" "$T/$mode.err"
	check "$mode: the file was written" grep -q "README has 1 line" "$W/NOTES.md"
	check "$mode: git log shows the commit" test "$(git -C "$W" log -1 --format=%s)" = "Add notes"
	check "$mode: the shell ran once" test "$(cat "$W/marker.txt")" = "ran"
	ctl runs --json > "$T/runs.json"
	check "$mode: runs --json has the run succeeded" grep -q '"status":"succeeded"' "$T/runs.json"
	run_id=$(json_get "$(cat "$T/runs.json")" 'j[0]["id"]')
	sid=$(json_get "$(cat "$T/runs.json")" 'j[0]["session_id"]')
	if [ $mode = stream ]; then
		# On a terminal the streamed answer is printed once, not again on stdout.
		script -qec "'$AGENTCTL' --socket '$SOCK' run --workspace '$W' 'Write notes again'" \
			/dev/null > "$T/tty.out" 2>&1 </dev/null
		n=$(grep -c "NOTES.md written and committed" "$T/tty.out")
		check "$mode: on a terminal the answer is printed once (got $n)" test "$n" -eq 1
	fi
	ctl show "$run_id" > "$T/show.out" 2> "$T/show.err"
	check "$mode: show prints the plan's steps on stdout" grep -q "\[x\] Commit" "$T/show.out"
	check "$mode: show prints nothing on stderr" test ! -s "$T/show.err"
	ctl show "s$sid" --json > "$T/session.json"
	n=$(transcript_ok "$T/session.json")
	check "$mode: the stored transcript pairs every call ($n calls)" test "${n:-0}" -ge 8
	stats=$(curl -s "$MOCK_ROOT/_stats" 2>/dev/null || "$PYTHON3" -c "import urllib.request;print(urllib.request.urlopen('$MOCK_ROOT/_stats').read().decode())")
	check "$mode: the model server never rejected a request" lacks "$stats" '"400"'
	check "$mode: audit finds the record intact" ctl audit "$run_id"
	if [ $mode = stream ]; then
		check "$mode: undo moves the branch back" ctl undo "$run_id"
		check "$mode: after undo HEAD is the initial commit" \
			test "$(git -C "$W" log -1 --format=%s)" = "initial commit"
	else
		git -C "$W" commit -q --allow-empty -m "someone else"
		ctl undo "$run_id" > "$T/undo.out" 2>&1
		check "$mode: undo refuses when someone committed on top" test $? -eq 1
		check "$mode: the refused undo left history alone" \
			test "$(git -C "$W" log -1 --format=%s)" = "someone else"
	fi
	check "$mode: search finds a word from a tool output" \
		sh -c "'$AGENTCTL' --socket '$SOCK' search hello | grep -q 'session $sid'"
	# The command the shell ran is found, with its run, step and tool: it
	# was only in the call's arguments, never in a message or an output.
	ctl search 'echo ran marker' > "$T/search-$mode.out" 2>&1
	check "$mode: search finds the shell command with its run, step and tool" \
		grep -qE "^session $sid run $run_id step [0-9]+ \[call shell\] .*\[echo\] \[ran\] >> \[marker\]" \
		"$T/search-$mode.out"
	ctl search 'echo ran marker' --json > "$T/search-$mode.json"
	check "$mode: search --json names the call's run, step and tool" test "$(json_get \
		"$(cat "$T/search-$mode.json")" \
		'[(h["role"], h["tool"], h["run_id"], type(h["step"]).__name__) for h in j if h["run_id"] == '"$run_id"']')" = \
		"[('call', 'shell', $run_id, 'int')]"
	stop_agentd
	stop_mock
done

# Ollama's default 4096-token window: the run fits (short tool definitions,
# a smaller reserve, elision) and no request is cut by the server.
W="$T/repo-4k"
STATE="$T/state-4k"
make_repo "$W"
start_mock "$S/seven_turns_4k.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --workspace "$W" "Write notes about this repository and commit them" > "$T/4k.out" 2> "$T/4k.err"
check "4k window: the 7-turn run succeeds" test $? -eq 0
log=$("$PYTHON3" -c "import json,urllib.request; print(json.dumps(json.load(urllib.request.urlopen('$MOCK_ROOT/_log'))))")
check "4k window: no request went over the server's window" lacks "$log" '"truncated": true'
stop_agentd
stop_mock

# Faults: each ends in a retry that succeeds or a failed run with a reason.
fault_case() { # name scenario-json expect-exit expect-text
	W="$T/repo-fault-$1"
	STATE="$T/state-fault-$1"
	make_repo "$W"
	printf '%s\n' "$2" > "$T/fault-$1.json"
	start_mock "$T/fault-$1.json" || return 1
	start_agentd --llm-url "$MOCK_URL" --config "$T/fast.json" || return 1
	timeout 120 "$AGENTCTL" --socket "$SOCK" run --workspace "$W" "do it" > "$T/f-$1.out" 2> "$T/f-$1.err"
	rc=$?
	check "fault $1: exit $3" test $rc -eq "$3"
	check "fault $1: says '$4'" grep -qi -- "$4" "$T/f-$1.out" "$T/f-$1.err"
	stop_agentd
	stop_mock
}
cat > "$T/fast.json" <<'JSON'
{"llm": {"backoff_base_ms": 50, "backoff_max_ms": 500, "max_retries": 2, "idle_timeout_ms": 3000,
         "connect_timeout_ms": 1000}, "max_steps": 12}
JSON
ANSWER='{"content":"all good"}'
fault_case 500-then-ok "{\"turns\":[{\"content\":\"all good\",\"faults\":[\"500\"]}]}" 0 "all good"
fault_case 429-then-ok "{\"turns\":[{\"content\":\"all good\",\"faults\":[\"429:1\"]}]}" 0 "retrying"
fault_case cut-mid-call "{\"turns\":[{\"tool_calls\":[{\"name\":\"list_dir\",\"arguments\":{}}],\"faults\":[\"cut_mid_tool_call\"]},$ANSWER]}" 0 "all good"
fault_case garbage-sse "{\"turns\":[{\"content\":\"all good\",\"faults\":[\"garbage_sse\",\"garbage_sse\",\"garbage_sse\"]}]}" 1 "failed"
fault_case always-500 "{\"turns\":[{\"content\":\"x\",\"faults\":[\"500\",\"500\",\"500\",\"500\"]}]}" 1 "HTTP 500"
fault_case slow "{\"turns\":[{\"content\":\"x\",\"faults\":[\"slow:10\",\"slow:10\",\"slow:10\"]}]}" 1 "failed"
fault_case error-event "{\"turns\":[{\"content\":\"x\",\"faults\":[\"error_event\",\"error_event\",\"error_event\"]}]}" 1 "failed"
for fmt in hermes mistral mistral_args llama bare fenced; do
	fault_case "text-$fmt" "{\"turns\":[{\"tool_calls\":[{\"name\":\"list_dir\",\"arguments\":{\"path\":\".\"}}],\"text_format\":\"$fmt\"},$ANSWER]}" 0 "→ list_dir"
done
fault_case wrong-tool "{\"turns\":[{\"tool_calls\":[{\"name\":\"delete_everything\",\"arguments\":{}}]},$ANSWER]}" 0 "all good"
fault_case invalid-args "{\"turns\":[{\"tool_calls\":[{\"name\":\"read_file\",\"arguments\":{\"path\":7}}]},$ANSWER]}" 0 "all good"
fault_case endless-loop "{\"repeat_last\":true,\"turns\":[{\"tool_calls\":[{\"name\":\"read_file\",\"arguments\":{\"path\":\"nope.txt\"}}]}]}" 1 "failed"

# A session continues with its history.
W="$T/repo-session"
STATE="$T/state-session"
make_repo "$W"
start_mock "$S/answer.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --workspace "$W" "first question" > /dev/null 2>&1
sid=$(json_get "$(ctl sessions --json)" 'j[0]["id"]')
ctl run --session "$sid" "second question" > /dev/null 2>&1
check "run --session continues the session" test "$(json_get "$(ctl show "s$sid" --json)" 'len(j["runs"])')" = 2
last=$("$PYTHON3" -c "import json,urllib.request; l=json.load(urllib.request.urlopen('$MOCK_ROOT/_log')); r=[x for x in l if x.get('path','').endswith('/chat/completions')][-1]; print(json.dumps(r['body']['messages']))")
check "the second run's request carries the first run's history" has "$last" "first question"

# Management: export as markdown and JSON lines, rm.
ctl export "s$sid" > "$T/export.md"
check "export markdown has the transcript" grep -q "first question" "$T/export.md"
ctl export "s$sid" --format jsonl > "$T/export.jsonl"
check "export jsonl is one JSON object per line" "$PYTHON3" -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$T/export.jsonl"
check "rm deletes the session" ctl rm "s$sid"
check "the session is gone" sh -c "! '$AGENTCTL' --socket '$SOCK' show s$sid > /dev/null 2>&1"
stop_agentd

# Retention is applied by the daemon: keep the newest session only.
printf '{"retention": {"max_count": 1}}\n' > "$T/ret.json"
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --workspace "$W" "one" > /dev/null 2>&1
ctl run --workspace "$W" "two" > /dev/null 2>&1
stop_agentd
start_agentd --llm-url "$MOCK_URL" --config "$T/ret.json" || exit 1
check "retention keeps only max_count sessions" test "$(json_get "$(ctl sessions --json)" 'len(j)')" = 1

stop_agentd
stop_mock

# A client that disconnects mid-run does not stop the run.
STATE="$T/state-disconnect"
printf '%s\n' '{"turns":[{"content":"late answer","faults":["slow:4"]}]}' > "$T/slow1.json"
start_mock "$T/slow1.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --workspace "$W" "three" > /dev/null 2>&1 &
cpid=$!
sleep 0.5
kill -9 $cpid 2>/dev/null
wait $cpid 2>/dev/null
check "the run is still active after its client is killed" has "$(ctl runs --json)" '"status":"running"'
wait_for sh -c "'$AGENTCTL' --socket '$SOCK' runs --status succeeded --json | grep -q three"
check "and it ends succeeded" has "$(ctl runs --status succeeded --json)" '"task":"three"'
stop_agentd
stop_mock

# max_active_runs: runs past the limit wait, queued, and start in order;
# a queued run can be cancelled and its client hears the end.
W="$T/repo-queue"
STATE="$T/state-queue"
make_repo "$W"
printf '%s\n' '{"repeat_last":true,"turns":[{"content":"done","faults":["slow:3"]}]}' > "$T/q.json"
printf '{"max_active_runs": 1}\n' > "$T/q-cfg.json"
start_mock "$T/q.json" || exit 1
start_agentd --llm-url "$MOCK_URL" --config "$T/q-cfg.json" || exit 1
r1=$(ctl run --detach --workspace "$W" "first")
r2=$(ctl run --detach --workspace "$W" "second")
r3=$(ctl run --detach --workspace "$W" "third")
check "past max_active_runs a run is queued" has "$(ctl show "$r2" --json)" '"status":"queued"'
ctl cancel "$r3" > /dev/null
check "a queued run can be cancelled" has "$(ctl show "$r3" --json)" '"status":"cancelled"'
ctl attach "$r2" > "$T/q-attach.out" 2>&1
check "the queued run starts when the first ends, and succeeds" test $? -eq 0
check "the first run succeeded too" has "$(ctl show "$r1" --json)" '"status":"succeeded"'
stop_agentd
stop_mock

# run.cancel stops at once, an in-flight model request included.
W="$T/repo-cancel"
STATE="$T/state-cancel"
make_repo "$W"
printf '%s\n' '{"turns":[{"content":"late","faults":["slow:60"]}]}' > "$T/slow.json"
start_mock "$T/slow.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
rid=$(ctl run --detach --workspace "$W" "wait")
sleep 0.5
check "cancel answers" ctl cancel "$rid"
wait_for sh -c "'$AGENTCTL' --socket '$SOCK' show $rid --json | grep -q '\"status\":\"cancelled\"'"
check "the run is cancelled within seconds" has "$(ctl show "$rid" --json)" '"status":"cancelled"'
out=$(ctl show "$rid")
check "show says cancelled once, not 'cancelled — cancelled'" lacks "$out" "cancelled — cancelled"
stop_agentd
stop_mock

# A long session is read a page at a time (session.get / session.export
# with after_seq and limit); agentctl show and export put the pages together.
# 1,200 more messages go straight into the real journal while agentd is down.
W="$T/repo-long"
STATE="$T/state-long"
make_repo "$W"
start_mock "$S/answer.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --workspace "$W" "start a long session" > /dev/null 2>&1
rid=$(json_get "$(ctl runs --json)" 'j[0]["id"]')
sid=$(json_get "$(ctl runs --json)" 'j[0]["session_id"]')
stop_agentd
"$PYTHON3" - "$STATE/agentd.db" "$sid" "$rid" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1]); sid, rid = int(sys.argv[2]), int(sys.argv[3])
top = db.execute("select max(seq) from messages where session_id=?", (sid,)).fetchone()[0]
for i in range(1, 1201):
    db.execute("insert into messages(session_id, seq, run_id, role, content, created) values (?,?,?,?,?,?)",
               (sid, top + i, rid, "user" if i % 2 else "assistant", "bulk %d" % i, time.time()))
db.commit()
PY
n=$("$PYTHON3" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from messages where session_id=?', (int(sys.argv[2]),)).fetchone()[0])" "$STATE/agentd.db" "$sid")
start_agentd --llm-url "$MOCK_URL" || exit 1
# (replies this long go through files: one argument may not exceed 128 KiB)
jfile() { "$PYTHON3" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
rpc '{"jsonrpc":"2.0","id":1,"method":"session.get","params":{"id":'"$sid"',"limit":1000}}' > "$T/page.json"
check "session.get answers one page of 1000 with next_seq" test "$(jfile "$T/page.json" \
	'len(j["result"]["messages"]) == 1000 and j["result"]["next_seq"] == j["result"]["messages"][-1]["seq"]')" = True
page=$(rpc '{"jsonrpc":"2.0","id":1,"method":"session.get","params":{"id":'"$sid"',"limit":1001}}')
check "session.get refuses a page over 1000" has "$page" '"code":-32602'
ctl show "s$sid" --json > "$T/long.json"
check "show --json puts every page together ($n messages)" test "$(jfile "$T/long.json" 'len(j["messages"])')" = "$n"
check "show of the run has the last message" sh -c "'$AGENTCTL' --socket '$SOCK' show $rid | grep -q 'bulk 1200'"
ctl export "s$sid" --format jsonl > "$T/long.jsonl"
check "export jsonl: every message once" test "$(grep -c '"type":"message"' "$T/long.jsonl")" = "$n"
check "export jsonl: the session line once" test "$(grep -c '"type":"session"' "$T/long.jsonl")" = 1
ctl export "s$sid" > "$T/long.md"
check "export markdown: one heading, one run heading, the last message" sh -c \
	"[ \$(grep -c '^# Session' '$T/long.md') = 1 ] && [ \$(grep -c '^## Run' '$T/long.md') = 1 ] && grep -q 'bulk 1200' '$T/long.md'"
stop_agentd
stop_mock

# Connection refused: nothing listens on the port.
W="$T/repo-refused"
STATE="$T/state-refused"
make_repo "$W"
start_agentd --llm-url http://127.0.0.1:9/v1 --config "$T/fast.json" || exit 1
timeout 120 "$AGENTCTL" --socket "$SOCK" run --workspace "$W" "do it" > "$T/refused.out" 2> "$T/refused.err"
check "connection refused: the run fails" test $? -eq 1
check "connection refused: the reason is clear" grep -qi "connect\|refused" "$T/refused.err"
stop_agentd

finish
