#!/bin/sh
# test_doctor.sh — agentctl doctor against the real daemon: no daemon, a URL
# where nothing answers, a base URL without /v1, a server that refuses
# requests offering tools, a window too small for the fixed prompt — each a
# FAIL with its fix and exit 1 — and the scripted server, where a run can
# work (exit 0). Also what quickstart relies on.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export HOME="$T/home"
mkdir -p "$HOME"

ctl doctor > "$T/d0.out" 2>&1
check "no daemon: exit 1" test $? -eq 1
check "no daemon: says so, with the fix" grep -q "no agentd answers on $SOCK" "$T/d0.out"
check "no daemon: the sandbox is still checked" grep -q "sandbox" "$T/d0.out"

start_agentd --llm-url http://127.0.0.1:9/v1 || exit 1
ctl doctor > "$T/d1.out" 2>&1
check "nothing at the URL: exit 1" test $? -eq 1
check "nothing at the URL: the URL is named, with the fix" \
	grep -q "FAIL .*model .*http://127.0.0.1:9/v1: nothing answers there" "$T/d1.out"
check "the journal is checked" grep -q "ok .*journal .*integrity ok" "$T/d1.out"
check "the daemon is named" grep -q "ok .*daemon .*agentd" "$T/d1.out"
stop_agentd

printf '{"n_ctx": 8192, "repeat_last": true, "turns": [{"content": "ok"}]}\n' > "$T/ok.json"
start_mock "$T/ok.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl doctor > "$T/d2.out" 2>&1
check "the scripted server: exit 0" test $? -eq 0
check "the scripted server: window and tool calls" \
	grep -q "ok .*model .*window 8192 tokens; tool calls accepted" "$T/d2.out"
stop_agentd

start_agentd --llm-url "$MOCK_ROOT/openai" || exit 1
ctl doctor > "$T/d3.out" 2>&1
check "a base URL that is not the API's (404): exit 1" test $? -eq 1
check "a base URL that is not the API's: the fix says where it should point" grep -q "ending in /v1" "$T/d3.out"
stop_agentd
stop_mock

printf '{"n_ctx": 8192, "repeat_last": true, "turns": [{"content": "ok", "faults": ["400"]}]}\n' > "$T/no-tools.json"
start_mock "$T/no-tools.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl doctor > "$T/d4.out" 2>&1
check "a request offering a tool refused: exit 1" test $? -eq 1
check "a request offering a tool refused: said, with the fix" grep -q "\-\-jinja" "$T/d4.out"
stop_agentd
stop_mock

printf '{"n_ctx": 1024, "repeat_last": true, "turns": [{"content": "ok"}]}\n' > "$T/small.json"
start_mock "$T/small.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl doctor > "$T/d5.out" 2>&1
check "a 1024-token window: exit 1" test $? -eq 1
check "a 1024-token window: too small for the fixed prompt" grep -q "too small for agentd's fixed prompt" "$T/d5.out"

# a second, working endpoint after a dead one: failover makes a run work
stop_agentd
stop_mock
start_mock "$T/ok.json" || exit 1
printf '{"llm_url": ["http://127.0.0.1:9/v1", "%s"]}\n' "$MOCK_URL" > "$T/two.json"
start_agentd --config "$T/two.json" || exit 1
ctl doctor > "$T/d6.out" 2>&1
check "a dead endpoint and a working one: exit 0 (failover)" test $? -eq 0
check "the dead one is still reported" grep -q "FAIL .*127.0.0.1:9" "$T/d6.out"
check "and the summary says to look at it" grep -q "see the warnings" "$T/d6.out"
stop_agentd
stop_mock
finish
