#!/bin/sh
# test_acp.sh — `agentctl acp` driven by a scripted Agent Client Protocol
# client (tests/integration/acp_client.py), against the real daemon and the
# scripted model: initialize, session/new, a prompt turn streamed as
# session/update (plan, tool_call, tool_call_update, agent_message_chunk)
# ending in end_turn, session/load replaying it, approvals bridged to
# session/request_permission (allowed and denied), and session/cancel.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed"
export HOME="$T/home"
mkdir -p "$HOME" "$T/ws"
CLIENT="$(dirname "$0")/acp_client.py"
S="$(dirname "$0")/scenarios"

acp() { "$PYTHON3" "$CLIENT" "$AGENTCTL" "$SOCK" "$T/ws" "$1" "$T/dump.jsonl" 2>>"$T/acp.err"; }
q() { json_get "$1" "$2"; }

start_mock "$S/acp.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
out=$(acp "plain,load")
check "initialize: protocol version 1 and loadSession" \
	test "$(q "$out" 'str(j["initialize"]["result"]["protocolVersion"]) + str(j["initialize"]["result"]["agentCapabilities"]["loadSession"])')" = 1True
check "session/new: an agentd session id" test "$(q "$out" 'j["session"]')" = s1
check "the prompt turn ends with end_turn" test "$(q "$out" 'j["turns"][0]["result"]["stopReason"]')" = end_turn
check "the answer is streamed as agent_message_chunk" \
	has "$(q "$out" '"".join(u["update"]["content"]["text"] for u in j["updates"] if u["update"]["sessionUpdate"] == "agent_message_chunk")')" "All done from the model."
check "the plan is a plan update" \
	test "$(q "$out" '[u["update"]["entries"][0]["content"] for u in j["updates"] if u["update"]["sessionUpdate"] == "plan"][0]')" = Look
check "the shell call is a tool_call of kind execute" \
	test "$(q "$out" '[u["update"]["kind"] for u in j["updates"] if u["update"]["sessionUpdate"] == "tool_call"][0]')" = execute
check "its result is a completed tool_call_update" \
	test "$(q "$out" '[u["update"]["status"] for u in j["updates"] if u["update"]["sessionUpdate"] == "tool_call_update"][0]')" = completed
check "the shell ran in the session's folder" test -f "$T/ws/acp.txt"
check "the run's id comes back in _meta" test "$(q "$out" 'j["turns"][0]["result"]["_meta"]["agentd"]["run_id"]')" = 1
check "session/load answers with an object" test "$(q "$out" 'j["load"]["result"]')" = "{}"
check "session/load replays the user's prompt, the calls and the answer" \
	test "$(q "$out" '",".join(sorted(set(j["load_updates"])))')" = "agent_message_chunk,tool_call,tool_call_update,user_message_chunk"
check "an unknown method gets -32601" test "$(q "$out" 'j["unknown_method"]["error"]["code"]')" = -32601
check "agentctl acp exits 0 when the editor closes" test "$(q "$out" 'j["exit"]')" = 0
stop_agentd
stop_mock

# approvals through the editor
printf '{"approval_timeout_s": 20}\n' > "$T/cfg.json"
start_mock "$S/acp_network.json" || exit 1
start_agentd --llm-url "$MOCK_URL" --config "$T/cfg.json" || exit 1
out=$(acp "allow")
check "an approval becomes session/request_permission" \
	test "$(q "$out" 'len(j["permission_requests"])')" = 1
check "with allow and deny options" \
	test "$(q "$out" '",".join(o["kind"] for o in j["permission_requests"][0]["options"])')" = "allow_once,reject_once"
check "allowed: the call ran" test -f "$T/ws/net.txt"
rm -f "$T/ws/net.txt"
out=$(acp "deny")
check "denied: the call did not run" test ! -f "$T/ws/net.txt"
check "denied: the model is told" \
	has "$(q "$out" '[u["update"]["status"] for u in j["updates"] if u["update"]["sessionUpdate"] == "tool_call_update"]')" "failed"
stop_agentd
stop_mock

# session/cancel during a tool call
start_mock "$S/acp.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
out=$(acp "cancel")
check "session/cancel: the turn ends with stopReason cancelled" \
	test "$(q "$out" 'j["turns"][0]["result"]["stopReason"]')" = cancelled
check "session/cancel: the run is cancelled in agentd" \
	test "$(json_get "$(ctl runs --json)" 'j[0]["status"]')" = cancelled
stop_agentd
stop_mock

# everything sent, against the official ACP TypeScript SDK's schemas (from
# npm, installed by test.sh into tests/acp/node_modules)
NM="$top_srcdir/tests/acp/node_modules"
if command -v node >/dev/null && [ -d "$NM/@agentclientprotocol/sdk" ]; then
	n=$(node "$top_srcdir/tests/acp/validate.mjs" "$T/dump.jsonl" "$NM" 2>"$T/validate.err")
	check "every message fits the ACP SDK's schemas ($n)" test $? -eq 0
	[ -s "$T/validate.err" ] && head -c 2000 "$T/validate.err"
else
	echo "# the ACP SDK is not installed (npm ci --prefix tests/acp): schema check skipped"
fi
finish
