#!/bin/sh
# mcp_tools.sh — how many tokens the tool definitions take when the two npm
# reference MCP servers (server-everything and server-filesystem, pinned in
# tests/mcp/package.json; `npm ci` there first) are configured, and what the
# tool budget (a quarter of the window by default) makes of it, for each
# window given (default 4096 8192 32768).
#
# For each window: the real agentd, the scripted model server announcing that
# window, a one-step run with both servers; the run's "tools" event says how
# many definitions were offered, their tokens (built-in and MCP, agentd's
# estimate), the budget and whether the MCP tools went behind tool_search.
# The scripted server also records the request, whose `tools` array is
# measured too (bytes, and tokens as the scripted server counts them).
#
# usage: bench/mcp_tools.sh [WINDOW…]   (from a build directory holding agentd
# and agentctl, or with AGENTD_BUILD=DIR). Needs node. Loopback only.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
B=${AGENTD_BUILD:-$PWD}
[ -x "$B/agentd" ] || { echo "no agentd in $B: run from the build directory or set AGENTD_BUILD" >&2; exit 2; }
MODS="$top/tests/mcp/node_modules/@modelcontextprotocol"
[ -f "$MODS/server-everything/dist/index.js" ] && [ -f "$MODS/server-filesystem/dist/index.js" ] ||
	{ echo "the reference servers are not installed: (cd tests/mcp && npm ci)" >&2; exit 2; }
command -v node >/dev/null || { echo "node is needed" >&2; exit 2; }
[ $# -gt 0 ] || set -- 4096 8192 32768
OUT=${OUT:-$(mktemp -d /tmp/agentd-mcptools.XXXXXX)}
export XDG_CONFIG_HOME="$OUT/xdg" NO_COLOR=1 GIT_CONFIG_NOSYSTEM=1 HOME="$OUT/home" AGENTD_SYSTEM_CONFIG=
mkdir -p "$HOME" "$XDG_CONFIG_HOME"
printf 'window  offered  builtin_tokens  mcp_tokens  total  budget  tool_search  request_tools_bytes\n'
for W in "$@"; do
	d="$OUT/w$W"
	mkdir -p "$d/repo"
	git -C "$d/repo" init -q -b main
	echo hi > "$d/repo/README.md"
	git -C "$d/repo" add -A && git -C "$d/repo" -c user.name=b -c user.email=b@example.org commit -qm init
	printf '{"n_ctx": %s, "turns": [{"content": "Done."}]}\n' "$W" > "$d/scenario.json"
	printf '{"mcp_servers": {"everything": {"command": "node", "args": ["%s", "stdio"]}, "filesystem": {"command": "node", "args": ["%s", "."]}}}\n' \
		"$MODS/server-everything/dist/index.js" "$MODS/server-filesystem/dist/index.js" > "$d/config.json"
	python3 "$top/tests/mock/mock_llm.py" --scenario "$d/scenario.json" --port 0 \
		--port-file "$d/port" --log "$d/requests.jsonl" > "$d/mock.out" 2>&1 &
	mpid=$!
	i=0; while [ ! -s "$d/port" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
	"$B/agentd" --config "$d/config.json" --socket "$d/s.sock" --state-dir "$d/state" \
		--llm-url "http://127.0.0.1:$(cat "$d/port")/v1" > "$d/agentd.log" 2>&1 &
	apid=$!
	i=0; while ! "$B/agentctl" --socket "$d/s.sock" status > /dev/null 2>&1 && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
	"$B/agentctl" --socket "$d/s.sock" run --workspace "$d/repo" "Say done" > "$d/run.out" 2>&1 || true
	"$B/agentctl" --socket "$d/s.sock" attach 1 --json > "$d/events.jsonl" 2>/dev/null || true
	kill "$apid" "$mpid" 2>/dev/null; wait "$apid" "$mpid" 2>/dev/null || true
	python3 - "$d" "$W" <<'PY'
import json, sys
d, w = sys.argv[1], sys.argv[2]
t = None
for line in open(d + "/events.jsonl"):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("type") == "tools":
        t = e["data"]
nbytes = 0
for line in open(d + "/requests.jsonl"):
    r = json.loads(line)
    if r.get("path", "").endswith("/chat/completions") and isinstance(r.get("body"), dict):
        nbytes = len(json.dumps(r["body"].get("tools") or []))
        break
if t is None:
    print("%-7s no tools event (see %s)" % (w, d))
else:
    print("%-7s %7d  %14d  %10d  %5d  %6d  %-11s  %d" % (w, t["offered"], t["builtin_tokens"],
          t["mcp_tokens"], t["tokens"], t["budget"], "yes" if t["search"] else "no", nbytes))
PY
done
echo "(runs kept in $OUT)"
