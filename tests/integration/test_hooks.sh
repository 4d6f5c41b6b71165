#!/bin/sh
# test_hooks.sh — the user's hooks with Claude Code's contract, through the
# real daemon and the scripted model: every event gets its JSON on stdin;
# PreToolUse can block (exit 2, or a "deny" answer) with the reason shown to
# the model, rewrite the arguments (updatedInput) or stop the run; a hook
# that hangs is killed at its timeout with its children and the run goes on;
# other exit codes are recorded and ignored; UserPromptSubmit blocks or adds
# context; a Stop hook sends the model back to work; Notification fires when
# a run waits for an approval; every hook run is in `agentctl show`/`audit`.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME" "$T/in"
W="$T/repo"
make_repo "$W"

# scenario CMD: the model runs the shell command CMD, then answers
scenario() {
	"$PYTHON3" - "$1" > "$T/scn.json" <<'PY'
import json, sys
print(json.dumps({"repeat_last": True, "turns": [
  {"content": "", "tool_calls": [{"name": "shell", "arguments": {"command": sys.argv[1]}}]},
  {"content": "All done."}]}))
PY
}
# config JSON: write the daemon's config file and (re)start both servers
restart() {
	stop_agentd; stop_mock
	printf '%s\n' "$1" > "$T/cfg.json"
	: > "$T/mock.log"
	start_mock "$T/scn.json" || exit 1
	start_agentd --llm-url "$MOCK_URL" --config "$T/cfg.json" || exit 1
}
# requests EXPR: evaluate a python expression over the chat requests `reqs`
requests() {
	"$PYTHON3" - "$T/mock.log" "$1" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
reqs = [r["body"] for r in reqs if r.get("path", "").endswith("/chat/completions") and r.get("body")]
tool_msgs = [m["content"] for r in reqs for m in r["messages"] if m["role"] == "tool"]
user_msgs = [m["content"] for r in reqs for m in r["messages"] if m["role"] == "user"]
print(eval(sys.argv[2]))
PY
}
last_run() { json_get "$(ctl runs --json)" 'j[0]["id"]'; }
status_of() { json_get "$(ctl show "$1" --json)" 'j["status"]'; }
reason_of() { json_get "$(ctl show "$1" --json)" 'j.get("reason") or ""'; }

# 1. every event sees its input; the transcript file holds the session
cap() { printf '"cat > %s/in/%s.json"' "$T" "$1"; }
scenario "echo ran > marker.txt"
restart "{\"hooks\": {
 \"SessionStart\": [{\"command\": $(cap SessionStart)}],
 \"UserPromptSubmit\": [{\"command\": $(cap UserPromptSubmit)}],
 \"PreToolUse\": [{\"matcher\": \"Bash\", \"command\": $(cap PreToolUse)}],
 \"PostToolUse\": [{\"matcher\": \"shell|write_file\", \"command\": $(cap PostToolUse)}],
 \"Stop\": [{\"command\": $(cap Stop)}],
 \"SessionEnd\": [{\"hooks\": [{\"type\": \"command\", \"command\": $(cap SessionEnd), \"timeout\": 5}]}]}}"
ctl run --workspace "$W" "Make the marker" > "$T/r1.out" 2>&1
check "a run with hooks on every event succeeds" test "$(status_of 1)" = succeeded
for e in SessionStart UserPromptSubmit PreToolUse PostToolUse Stop SessionEnd; do
	check "$e: the hook got its JSON with the event's name" \
		test "$(json_get "$(cat "$T/in/$e.json" 2>/dev/null || echo '{}')" 'j.get("hook_event_name")')" = "$e"
done
pre=$(cat "$T/in/PreToolUse.json")
check "PreToolUse: tool_name and tool_input (a Claude matcher name matches agentd's tool)" \
	test "$(json_get "$pre" 'j["tool_name"] + "|" + j["tool_input"]["command"]')" = "shell|echo ran > marker.txt"
check "PreToolUse: session_id, run_id and cwd" \
	test "$(json_get "$pre" 'str(j["run_id"]) + "|" + j["session_id"] + "|" + j["cwd"]')" = "1|1|$W"
post=$(cat "$T/in/PostToolUse.json")
check "PostToolUse: tool_response holds the result" has "$(json_get "$post" 'j["tool_response"]')" "exit code 0"
tp=$(json_get "$(cat "$T/in/Stop.json")" 'j["transcript_path"]')
check "the transcript file holds the session's messages" grep -q "Make the marker" "$tp"
check "the transcript file is private (0600)" test "$(stat -c %a "$tp")" = 600
check "SessionStart: a new session's source is startup" \
	test "$(json_get "$(cat "$T/in/SessionStart.json")" 'j["source"]')" = startup
check "SessionEnd: the reason is the run's status" \
	test "$(json_get "$(cat "$T/in/SessionEnd.json")" 'j["reason"]')" = succeeded
ctl show 1 > "$T/show1.out" 2>&1
check "agentctl show lists the hooks that ran" grep -q "PreToolUse (shell): exit 0, ok" "$T/show1.out"
ctl audit 1 > "$T/audit1.out" 2>&1
check "agentctl audit lists them with the intact chain" grep -q "SessionEnd (succeeded): exit 0" "$T/audit1.out"

# 2. PreToolUse exit 2 blocks the call; the model reads the hook's stderr
rm -f "$W/marker.txt"
cat > "$T/guard.sh" <<'SH'
#!/bin/sh
input=$(cat)
case "$input" in *"git push"*|*marker*) echo "no pushing from agents: ask a human" >&2; exit 2;; esac
exit 0
SH
chmod +x "$T/guard.sh"
restart "{\"hooks\": {\"PreToolUse\": [{\"matcher\": \"shell\", \"command\": \"$T/guard.sh\"}]}}"
ctl run --workspace "$W" "Make the marker" > /dev/null 2>&1
check "exit 2: the blocked command did not run" test ! -e "$W/marker.txt"
check "exit 2: the model sees the hook's stderr as the call's result" \
	test "$(requests 'any("no pushing from agents: ask a human" in t and "PreToolUse" in t for t in tool_msgs)')" = True
check "exit 2: the run goes on to its answer" test "$(status_of "$(last_run)")" = succeeded

# 3. a "deny" answer, and updatedInput
restart "{\"hooks\": {\"PreToolUse\": [{\"command\": \"echo '{\\\"hookSpecificOutput\\\":{\\\"hookEventName\\\":\\\"PreToolUse\\\",\\\"permissionDecision\\\":\\\"deny\\\",\\\"permissionDecisionReason\\\":\\\"denied by policy script\\\"}}'\"}]}}"
ctl run --workspace "$W" "Make the marker" > /dev/null 2>&1
check "deny: not run, the reason reaches the model" \
	test "$(requests 'any("denied by policy script" in t for t in tool_msgs)')" = True
check "deny: the command did not run" test ! -e "$W/marker.txt"
restart "{\"hooks\": {\"PreToolUse\": [{\"command\": \"echo '{\\\"hookSpecificOutput\\\":{\\\"permissionDecision\\\":\\\"allow\\\",\\\"updatedInput\\\":{\\\"command\\\":\\\"echo rewritten > marker.txt\\\"}}}'\"}]}}"
ctl run --workspace "$W" "Make the marker" > /dev/null 2>&1
check "updatedInput: the hook's arguments ran instead of the model's" test "$(cat "$W/marker.txt" 2>/dev/null)" = rewritten
restart "{\"hooks\": {\"PreToolUse\": [{\"command\": \"echo '{\\\"hookSpecificOutput\\\":{\\\"updatedInput\\\":{\\\"command\\\":42}}}'\"}]}}"
rm -f "$W/marker.txt"
ctl run --workspace "$W" "Make the marker" > /dev/null 2>&1
check "updatedInput that breaks the schema: not run, and said" \
	test "$(requests 'any("invalid ones" in t for t in tool_msgs)')" = True
check "updatedInput that breaks the schema: nothing ran" test ! -e "$W/marker.txt"

# 4. a hook that hangs is killed with its children at its timeout; exit 1 is
# a recorded, non-blocking error; a flood of output is capped
restart "{\"hooks\": {\"PreToolUse\": [
  {\"command\": \"sleep 3000 & echo \$! > $T/child.pid; sleep 3000\", \"timeout_s\": 1},
  {\"command\": \"echo oops >&2; exit 1\"},
  {\"command\": \"head -c 20000000 /dev/zero | tr '\\\\\\\\0' x\"}]}}"
timeout 120 "$AGENTCTL" --socket "$SOCK" run --workspace "$W" "Make the marker" > /dev/null 2>&1
r=$(last_run)
check "a hanging hook: the run goes on and succeeds" test "$(status_of "$r")" = succeeded
check "a hanging hook: the command still ran" test "$(cat "$W/marker.txt" 2>/dev/null)" = ran
ev=$(rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"run.events\",\"params\":{\"id\":$r}}")
check "a hanging hook is recorded as timed out" has "$ev" '"timed_out":true'
check "a hanging hook ended long before it would have" test "$(json_get "$ev" \
	'[e["data"]["ms"] for e in j["result"]["events"] if e["type"] == "hook" and e["data"]["timed_out"]][0] < 600000')" = True
check "a hook's other exit code is recorded as an error" has "$ev" '"outcome":"error"'
cpid=$(cat "$T/child.pid" 2>/dev/null)
# gone, or a zombie waiting for init to reap it
dead() { [ -n "$1" ] && { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }; }
check "the hanging hook's child was killed too" wait_for dead "$cpid"

# 5. UserPromptSubmit: block, or add context; continue:false stops the run
restart "{\"hooks\": {\"UserPromptSubmit\": [{\"command\": \"grep -q secret && { echo 'prompt mentions a secret' >&2; exit 2; }; echo 'Team rule: always run make check.'\"}]}}"
ctl run --workspace "$W" "print the secret token" > /dev/null 2>&1
r=$(last_run)
check "UserPromptSubmit exit 2: the run fails, saying why" has "$(reason_of "$r")" "prompt mentions a secret"
check "UserPromptSubmit exit 2: the model was never asked" test "$(requests 'len(reqs)')" = 0
ctl run --workspace "$W" "Make the marker" > /dev/null 2>&1
check "UserPromptSubmit stdout joins the task as context" \
	test "$(requests 'any("Team rule: always run make check." in u and "Make the marker" in u for u in user_msgs)')" = True
restart "{\"hooks\": {\"PreToolUse\": [{\"command\": \"echo '{\\\"continue\\\": false, \\\"stopReason\\\": \\\"maintenance window\\\"}'\"}]}}"
ctl run --workspace "$W" "Make the marker" > /dev/null 2>&1
r=$(last_run)
check "continue:false ends the run, cancelled, with the stopReason" \
	test "$(status_of "$r")|$(reason_of "$r")" = "cancelled|stopped by the PreToolUse hook: maintenance window"

# PostToolUse context reaches the model; PostToolUseFailure gets the error
scenario "cat no-such-file"
restart "{\"hooks\": {\"PostToolUseFailure\": [{\"command\": $(cap PostToolUseFailure)},
  {\"command\": \"echo '{\\\"hookSpecificOutput\\\":{\\\"additionalContext\\\":\\\"FAILURE-CONTEXT from the hook\\\"}}'\"}],
 \"PostToolUse\": [{\"command\": \"echo never > $T/in/post-never\"}]}}"
ctl run --workspace "$W" "Read a missing file" > /dev/null 2>&1
f=$(cat "$T/in/PostToolUseFailure.json" 2>/dev/null || echo '{}')
check "PostToolUseFailure: fired for the failed call, with its error" \
	has "$(json_get "$f" 'j.get("hook_event_name", "") + " " + j.get("error", "")')" "PostToolUseFailure"
check "PostToolUseFailure: the error names what failed" has "$(json_get "$f" 'j.get("error", "")')" "no-such-file"
check "PostToolUse does not fire for a failed call" test ! -e "$T/in/post-never"
check "additionalContext joins the result the model reads" \
	test "$(requests 'any("FAILURE-CONTEXT from the hook" in t for t in tool_msgs)')" = True

# 6. a Stop hook sends the model back once (stop_hook_active then says so)
restart "{\"hooks\": {\"Stop\": [{\"command\": \"grep -q '\\\"stop_hook_active\\\":true' && exit 0; echo 'run the tests first' >&2; exit 2\"}]}}"
ctl run --workspace "$W" "Make the marker" > /dev/null 2>&1
r=$(last_run)
check "Stop exit 2: the model is asked again with the reason" \
	test "$(requests 'any("run the tests first" in u for u in user_msgs)')" = True
check "Stop: the second time (stop_hook_active) lets the run end" test "$(status_of "$r")" = succeeded

# 7. Notification: a run waits for an approval
scenario "curl -s http://127.0.0.1:9/"
"$PYTHON3" - "$T/scn.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s["turns"][0]["tool_calls"][0]["arguments"]["network"] = True
json.dump(s, open(sys.argv[1], "w"))
PY
restart "{\"approval_timeout_s\": 1, \"hooks\": {\"Notification\": [{\"matcher\": \"permission_prompt\", \"command\": $(cap Notification)}]}}"
ctl run --approval ask --workspace "$W" "Fetch it" > /dev/null 2>&1
check "Notification: fired when the run waits for an approval" \
	has "$(cat "$T/in/Notification.json" 2>/dev/null)" "waits for your approval"

# 8. scheduled runs: the same hooks, and a Notification when one ends; the
# repository's AGENTS.md reaches a scheduled run's model too
scenario "echo scheduled > sched.txt"
printf 'SCHED-RULE: keep it short.\n' > "$W/AGENTS.md"
git -C "$W" add AGENTS.md && git -C "$W" commit -qm "agents file"
restart "{\"hooks\": {\"Notification\": [{\"matcher\": \"scheduled_run_end\", \"command\": $(cap Notification-sched)}],
 \"PreToolUse\": [{\"command\": $(cap PreToolUse-sched)}]}}"
job=$(json_get "$(ctl schedule add --json --paused --cron '0 3 * * *' --workspace "$W" "scheduled chore")" 'j["id"]')
rid=$(ctl schedule run "$job")
wait_for sh -c "[ -s '$T/in/Notification-sched.json' ]"
n=$(cat "$T/in/Notification-sched.json" 2>/dev/null)
check "a scheduled run's end fires Notification (scheduled_run_end)" \
	test "$(json_get "${n:-{\}}" 'j.get("notification_type")')" = scheduled_run_end
check "the Notification names the run and its status" has "$n" "scheduled run $rid"
check "PreToolUse hooks run for scheduled runs too" \
	test "$(json_get "$(cat "$T/in/PreToolUse-sched.json" 2>/dev/null || echo '{}')" 'j.get("tool_name")')" = shell
check "a scheduled run's model gets the repository's AGENTS.md" \
	test "$(requests 'any("SCHED-RULE" in r["messages"][0]["content"] for r in reqs)')" = True

# 9. bad configurations are refused, naming the key
for bad in '{"hooks": {"PreTool": []}}' '{"hooks": {"Stop": [{"command": ""}]}}' \
	'{"hooks": {"PreToolUse": [{"matcher": "(", "command": "true"}]}}' \
	'{"hooks": {"Stop": [{"command": "true", "timeout_s": 0}]}}' \
	'{"hooks": {"Stop": [{"command": "true", "when": 1}]}}'; do
	printf '%s\n' "$bad" > "$T/bad.json"
	"$AGENTD" --socket "$T/bad.sock" --state-dir "$T/bad-state" --config "$T/bad.json" > "$T/bad.out" 2>&1
	check "refused: $bad" grep -q "hooks" "$T/bad.out"
done
stop_agentd
stop_mock
finish
