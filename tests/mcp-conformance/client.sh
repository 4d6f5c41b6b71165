#!/bin/sh
# client.sh — the client the MCP conformance suite runs: the suite appends
# the URL of its scenario server and names the scenario in
# MCP_CONFORMANCE_SCENARIO; this picks what tests/mcp/mcp_probe does there.
# MCP_PROBE is the path of the built mcp_probe (run.sh sets it).
url=$1
case "${MCP_CONFORMANCE_SCENARIO:-}" in
initialize) exec "$MCP_PROBE" "$url" ;;
tools_call) exec "$MCP_PROBE" --call add_numbers --args '{"a":2,"b":3}' "$url" ;;
sse-retry) exec "$MCP_PROBE" --call test_reconnection "$url" ;;
*) echo "client.sh: no steps for scenario '${MCP_CONFORMANCE_SCENARIO:-}'" >&2; exit 1 ;;
esac
