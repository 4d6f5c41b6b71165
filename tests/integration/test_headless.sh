#!/bin/sh
# test_headless.sh — agentctl run from scripts: the task from standard input
# (`run -`), one JSON object at the end (`--output-format json`), every
# `--json` line typed, and `--continue` picking up the workspace's newest
# session.
. "$(dirname "$0")/lib.sh"

W="$T/repo"
make_repo "$W"
start_mock "$top_srcdir/tests/integration/scenarios/answer.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1

out=$(printf 'the task came on stdin\n' | ctl run - --workspace "$W" --output-format json 2>"$T/err1")
rc=$?
check "run - --output-format json: exit 0" test "$rc" -eq 0
check "... exactly one line on stdout" test "$(printf '%s\n' "$out" | wc -l)" -eq 1
check "... of type result" test "$(json_get "$out" 'j["type"]')" = result
check "... status succeeded, ok true" test "$(json_get "$out" '(j["status"], j["ok"])')" = "('succeeded', True)"
check "... the answer" test "$(json_get "$out" 'j["answer"]')" = "Checked the repository; nothing to do."
check "... ids, steps and usage" test "$(json_get "$out" \
	'(j["run_id"] > 0, j["session_id"] > 0, j["steps"] >= 1, sorted(j["usage"]), j["reason"], j["branch"])')" = \
	"(True, True, True, ['completion_tokens', 'prompt_tokens', 'total_tokens'], None, None)"
check "... nothing else on stderr" test ! -s "$T/err1"
check "the model got the task from stdin" grep -q "the task came on stdin" "$T/mock.log"
sid=$(json_get "$out" 'j["session_id"]')

printf '' | ctl run - --workspace "$W" >"$T/empty.out" 2>&1
check "an empty task on stdin: exit 2" test $? -eq 2
check "... saying so" grep -q "standard input is empty" "$T/empty.out"
ctl run --workspace "$W" --output-format yaml hi >"$T/fmt.out" 2>&1
check "--output-format yaml: exit 2 naming the flag" sh -c "test $? -eq 2 && grep -q -- --output-format '$T/fmt.out'"

out=$(ctl run --workspace "$W" --continue --output-format json "and now this" 2>&1)
check "--continue: the newest session of the workspace" test "$(json_get "$out" 'j["session_id"]')" = "$sid"
W2="$T/repo2"
make_repo "$W2"
out=$(ctl run --workspace "$W2" -c --output-format json "first here" 2>&1)
check "--continue where there is none: a new session" test "$(json_get "$out" 'j["session_id"]')" != "$sid"
ctl run --workspace "$W" --continue --session "$sid" x >/dev/null 2>&1
check "--continue with --session: exit 2" test $? -eq 2

ctl run --workspace "$W" --json "lines" > "$T/lines"
check "--json: every line has a type" "$PYTHON3" -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines and all("type" in l for l in lines), lines
assert lines[0]["type"] == "start" and lines[-1]["type"] == "end"
' "$T/lines"
stop_agentd
stop_mock

# A run that fails: status, reason and exit 1 in the one object.
start_mock "$top_srcdir/tests/integration/scenarios/todo.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
out=$(echo "find the todos" | ctl run - --workspace "$W" --max-steps 1 --output-format json 2>"$T/err2")
rc=$?
check "a failed run: exit 1" test "$rc" -eq 1
check "... status and reason in the object" test "$(json_get "$out" '(j["status"], j["ok"], bool(j["reason"]))')" = \
	"('failed', False, True)"
stop_agentd
stop_mock
finish
