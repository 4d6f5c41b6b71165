#!/bin/sh
# test_llm_servers.sh — what real model servers do to a run, replayed by the
# scripted server from captures of llama-server (tests/fixtures/llama-server):
# replies cut by finish_reason "length", a shared KV cache that is full
# ("Context size has been exceeded."), a prompt over the window (400
# exceed_context_size_error), and an HTML page where the API was expected.
# A cut reply never ends a run as succeeded; a context error is followed by
# a smaller request; what cannot succeed is not retried and is named.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
W="$T/repo"
make_repo "$W"
i=0
while [ $i -lt 400 ]; do
	echo "line $i of a long file that the model reads and that fills the window"
	i=$((i + 1))
done > "$W/big.txt"
git -C "$W" add big.txt && git -C "$W" commit -q -m big

scenario() { # NAME JSON: write a scenario file, print its path
	printf '%s\n' "$2" > "$T/$1.json"
	echo "$T/$1.json"
}
mock_get() { "$PYTHON3" -c "import urllib.request,sys;print(urllib.request.urlopen(sys.argv[1]).read().decode())" "$MOCK_ROOT/$1"; }
# chat_sizes: the prompt size (the mock's count) and status of each chat request
chat_sizes() { mock_get _log | "$PYTHON3" -c '
import json, sys
for r in json.load(sys.stdin):
    if r.get("turn") is not None:
        print(r.get("prompt_tokens"), r.get("status"), r.get("error", ""))'; }
last_run() { ctl runs --json | "$PYTHON3" -c 'import json,sys; r=json.load(sys.stdin)[0]; print(r["id"], r["status"], r.get("reason") or "")'; }

# ---- 1. replies cut by finish_reason "length" ----
for mode in stream nostream; do
	flag=; [ $mode = nostream ] && flag=--no-stream
	# streamed: the capture, where the server held the partial <tool_call> back;
	# not streamed: the raw markup left in the content
	if [ $mode = stream ]; then
		first='{"content": "", "faults": ["replay:stream-length-cut.sse"]}'
		told='cut off at 12 tokens'
	else
		first='{"content": "<tool_call>\n {\"name\"\n\n\t :\"grep\n", "finish_reason": "length"}'
		told='tool call to grep'
	fi
	start_mock "$(scenario cut-$mode "{\"turns\": [$first,
		{\"content\": \"Done after the cut.\", \"expect\": {\"last_role\": \"user\",
		 \"last_content_contains\": \"$told\"}}]}")" || exit 1
	start_agentd --llm-url "$MOCK_URL" $flag || exit 1
	ctl run --workspace "$W" "Find the word" > "$T/out" 2> "$T/err"
	rc=$?
	check "$mode: a run whose first reply was cut goes on and succeeds ($rc)" test $rc -eq 0
	check "$mode: the answer is the reply after the cut, not the cut markup" \
		sh -c "grep -q 'Done after the cut.' '$T/out' && ! grep -q tool_call '$T/out'"
	check "$mode: the model server never rejected a request" sh -c "! grep -q '\"status\": 400' '$T/mock.log'"
	stop_agentd
	stop_mock

	# a model that is always cut: the run fails, never "succeeded"
	start_mock "$(scenario cut-always "{\"repeat_last\": true, \"turns\": [
		{\"content\": \"A partial answer\", \"finish_reason\": \"length\"}]}")" || exit 1
	start_agentd --llm-url "$MOCK_URL" $flag || exit 1
	ctl run --workspace "$W" "Explain" > "$T/out" 2> "$T/err"
	rc=$?
	check "$mode: always cut: agentctl run exits 1" test $rc -eq 1
	check "$mode: always cut: the run failed with reply cut at N tokens" \
		sh -c "'$AGENTCTL' --socket '$SOCK' runs --json | grep -q '\"status\":\"failed\"' && grep -q 'reply cut at' '$T/err'"
	stop_agentd
	stop_mock
done

# ---- 2. context errors: the window is smaller than thought ----
# First measure the two requests of the task (the second carries big.txt).
ctx_turns='[{"tool_calls": [{"name": "read_file", "arguments": {"path": "big.txt"}}]},
	{"content": "Read it."}]'
start_mock "$(scenario ctx-measure "{\"n_ctx\": 32768, \"turns\": $ctx_turns}")" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --workspace "$W" "Read big.txt" > "$T/out" 2> "$T/err"
chat_sizes > "$T/sizes"
p0=$(sed -n 1p "$T/sizes" | cut -d' ' -f1)
p1=$(sed -n 2p "$T/sizes" | cut -d' ' -f1)
stop_agentd
stop_mock
check "the measuring run made two requests, the second larger ($p0 < $p1)" test "${p0:-0}" -gt 0 -a "${p1:-0}" -gt $((${p0:-0} + 1000))
free=$(( (${p0:-0} + ${p1:-0}) / 2 ))

for mode in stream nostream; do
	flag=; [ $mode = nostream ] && flag=--no-stream
	# several slots share one KV cache: /props says 32768, but only $free fit now
	start_mock "$(scenario ctx-shared "{\"n_ctx\": 32768, \"slots\": 4, \"kv_free\": $free,
		\"turns\": $ctx_turns}")" || exit 1
	start_agentd --llm-url "$MOCK_URL" $flag || exit 1
	ctl run --workspace "$W" "Read big.txt" > "$T/out" 2> "$T/err"
	rc=$?
	chat_sizes > "$T/sizes"
	check "$mode: shared cache full: the run succeeds ($rc)" test $rc -eq 0
	check "$mode: the server said Context size has been exceeded" \
		grep -q 'Context size has been exceeded' "$T/sizes"
	check "$mode: each refused request was followed by a smaller one; the last answered" "$PYTHON3" -c '
import sys
rows = [l.split(None, 2) for l in open(sys.argv[1]) if l.strip()]
bad = [i for i, r in enumerate(rows) if len(r) > 2 and "Context size" in r[2]]
assert bad and len(bad) <= 3, rows
for i in bad:
    assert int(rows[i + 1][0]) < int(rows[i][0]), rows
assert rows[-1][1] == "200" and int(rows[-1][0]) <= int(sys.argv[2]), rows' "$T/sizes" "$free"
	stop_agentd
	stop_mock
done

# /props says more than the server takes: 400 exceed_context_size_error with
# n_prompt_tokens and n_ctx; the next request fits n_ctx
start_mock "$(scenario ctx-400 "{\"n_ctx\": $free, \"props_n_ctx\": 32768, \"turns\": $ctx_turns}")" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --workspace "$W" "Read big.txt" > "$T/out" 2> "$T/err"
rc=$?
chat_sizes > "$T/sizes"
check "400 exceed_context_size_error: the run succeeds ($rc)" test $rc -eq 0
check "400 exceed_context_size_error: one refusal, then a request within n_ctx" "$PYTHON3" -c '
import sys
rows = [l.split(None, 2) for l in open(sys.argv[1]) if l.strip()]
st = [r[1] for r in rows]
assert st.count("400") == 1 and st[-1] == "200", rows
assert int(rows[st.index("400") + 1][0]) <= int(sys.argv[2]), rows' "$T/sizes" "$free"
stop_agentd
stop_mock

# ---- 3. the model server's problems, named ----
# an HTML page (a web server, a proxy, a base URL without /v1)
for status in 404 200; do
	start_mock "$(scenario html "{\"repeat_last\": true, \"turns\": [{\"content\": \"x\",
		\"faults\": [\"html:$status\", \"html:$status\", \"html:$status\", \"html:$status\", \"html:$status\"]}]}")" || exit 1
	start_agentd --llm-url "$MOCK_URL" || exit 1
	ctl run --workspace "$W" "Hello" > "$T/out" 2> "$T/err"
	rc=$?
	check "HTML $status: agentctl run exits 1" test $rc -eq 1
	check "HTML $status: one request, not retried" test "$(chat_sizes | wc -l)" -eq 1
	check "HTML $status: the reason names the URL and the status" \
		sh -c "grep -q '$MOCK_URL/chat/completions' '$T/err' && grep -q 'HTTP $status' '$T/err'"
	check "HTML $status: the reason has a cleaned excerpt, no markup" \
		sh -c "grep -q 'Cannot POST' '$T/err' && ! grep -q '<' '$T/err'"
	check "HTML $status: the reason says what to check" grep -q 'base URL' "$T/err"
	set -- $(last_run)
	ctl show "$1" > "$T/show" 2>&1
	check "HTML $status: show says one model request was made" grep -q 'model requests: 1' "$T/show"
	stop_agentd
	stop_mock
done

# ---- 4. reasoning models ----
# llama-server's reasoning_content: shown as thinking, never the answer; the
# endpoint's chat_template_kwargs and the reasoning budget go to the server
printf '{"llm_url": [{"url": "%s", "chat_template_kwargs": {"enable_thinking": false}}],\n "llm": {"reasoning_budget": 256}}\n' "$MOCK_URL" > "$T/thinkcfg.json"
for mode in stream nostream; do
	flag=; [ $mode = nostream ] && flag=--no-stream
	start_mock "$(scenario think "{\"turns\": [{\"reasoning\": \"The user greets me, so I greet back.\",
		\"content\": \"Hello there.\"}]}")" || exit 1
	sed "s|\"url\": \"[^\"]*\"|\"url\": \"$MOCK_URL\"|" "$T/thinkcfg.json" > "$T/think-$mode.json"
	start_agentd --config "$T/think-$mode.json" $flag || exit 1
	ctl run --workspace "$W" "Hello" > "$T/out" 2> "$T/err"
	rc=$?
	check "$mode: thinking: the run succeeds ($rc)" test $rc -eq 0
	check "$mode: thinking: the answer is the content only" \
		sh -c "grep -q 'Hello there.' '$T/out' && ! grep -q 'greets' '$T/out'"
	if [ $mode = stream ]; then
		check "$mode: thinking: agentctl run shows it as thinking" grep -q 'thinking: The user greets me' "$T/err"
	fi
	set -- $(last_run)
	ctl show "$1" > "$T/show" 2>&1
	check "$mode: thinking: agentctl show shows it apart" grep -q '\[assistant thinking\] The user greets me' "$T/show"
	check "$mode: the request carried chat_template_kwargs and the budget" "$PYTHON3" -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
b = [r["body"] for r in rs if r.get("turn") is not None][-1]
assert b["chat_template_kwargs"] == {"enable_thinking": False}, b.get("chat_template_kwargs")
assert b["thinking_budget_tokens"] == 256, b' "$T/mock.log"
	stop_agentd
	stop_mock
done
# config keys are checked for type
for bad in '{"llm": {"reasoning_budget": "lots"}}|llm.reasoning_budget' \
	'{"llm": {"reasoning_budget": -5}}|llm.reasoning_budget' \
	'{"llm": {"max_tokenz": 5}}|llm.max_tokenz' \
	'{"llm_url": [{"url": "http://127.0.0.1:1/v1", "chat_template_kwargs": [1]}]}|llm_url[0].chat_template_kwargs' \
	'{"llm_url": [{"url": "http://127.0.0.1:1/v1", "modle": "x"}]}|llm_url[0].modle'; do
	printf '%s\n' "${bad%%|*}" > "$T/bad.json"
	timeout 20 "$AGENTD" --socket "$T/bad.sock" --state-dir "$T/bad-state" --config "$T/bad.json" \
		> "$T/bad.out" 2>&1
	rc=$?
	check "config ${bad%%|*} is refused naming ${bad#*|}" \
		sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -qF '${bad#*|}' '$T/bad.out'"
done

finish
