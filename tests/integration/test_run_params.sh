#!/bin/sh
# test_run_params.sh — run.start refuses what it cannot honour, up front,
# with -32602 naming the field, and stores nothing: tools that are not
# names or not tools, counts that are not positive whole numbers, and
# workspaces agentd's user cannot use or that lie in its state directory.
. "$(dirname "$0")/lib.sh"

command -v socat >/dev/null 2>&1 || skip_all "socat is not installed"
mkdir -p "$T/ws"
start_agentd --llm-url http://127.0.0.1:9/v1 || exit 1

refused() { # refused "description" params-json field
	r=$(rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"run.start\",\"params\":$2}")
	check "$1 answers -32602" has "$r" '"code":-32602'
	check "$1 names $3" has "$r" "$3"
}
W="\"workspace\":\"$T/ws\",\"task\":\"t\",\"detach\":true"
refused "tools [[[\"x\"]]]" "{$W,\"tools\":[[[\"x\"]]]}" "'tools'[0]"
refused "tools [123, null]" "{$W,\"tools\":[123,null]}" "'tools'[0]"
refused "tools [\"read_flie\"]" "{$W,\"tools\":[\"read_file\",\"read_flie\"]}" "read_flie"
refused "max_steps -5" "{$W,\"max_steps\":-5}" "max_steps"
refused "max_steps 0" "{$W,\"max_steps\":0}" "max_steps"
refused "max_tokens -1" "{$W,\"max_tokens\":-1}" "max_tokens"
refused "context_window 0" "{$W,\"context_window\":0}" "context_window"
refused "max_wall_s -1" "{$W,\"max_wall_s\":-1}" "max_wall_s"
refused "max_wall_s 0" "{$W,\"max_wall_s\":0}" "max_wall_s"
refused "a workspace inside the state dir" \
	"{\"workspace\":\"$STATE\",\"task\":\"t\",\"detach\":true}" "state directory"
refused "a missing workspace" \
	"{\"workspace\":\"$T/nonexist\",\"task\":\"t\",\"detach\":true}" "workspace"

# A chore naming a misspelt tool is refused, not run without it.
printf '{"name":"c","prompt":"p","tools":["read_flie"]}\n' >"$T/c.json"
out=$(ctl run --workspace "$T/ws" --detach --chore "$T/c.json" 2>&1)
rc=$?
check "a chore naming read_flie exits 2" test $rc -eq 2
check "a chore naming read_flie is refused naming it" has "$out" "read_flie"

if [ "$(id -u)" -eq 0 ]; then
	echo "# skip: mode-000 workspace (root reads everything)"
else
	mkdir -p "$T/locked" && chmod 000 "$T/locked"
	refused "a mode-000 workspace" \
		"{\"workspace\":\"$T/locked\",\"task\":\"t\",\"detach\":true}" "not readable"
	chmod 700 "$T/locked"
	mkdir -p "$T/ro" && chmod 500 "$T/ro"
	refused "a read-only workspace under workspace-write" \
		"{\"workspace\":\"$T/ro\",\"task\":\"t\",\"detach\":true}" "writable"
	chmod 700 "$T/ro"
fi

# schedule.add refuses the same, when added rather than when it fires.
r=$(rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"schedule.add\",\"params\":{\"workspace\":\"$T/ws\",\"cron\":\"0 3 * * *\",\"chore\":{\"name\":\"c\",\"prompt\":\"p\",\"tools\":[\"read_flie\"]}}}")
check "schedule.add with a chore naming read_flie answers -32602" has "$r" '"code":-32602'
check "schedule.add names read_flie" has "$r" "read_flie"
r=$(rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"schedule.add\",\"params\":{\"workspace\":\"$STATE\",\"cron\":\"0 3 * * *\",\"task\":\"t\"}}")
check "schedule.add in the state dir answers -32602" has "$r" '"code":-32602'
r=$(rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"schedule.add\",\"params\":{\"workspace\":\"$T/ws\",\"cron\":\"0 0 30 2 *\",\"task\":\"t\"}}")
check "schedule.add '0 0 30 2 *' (never fires) answers -32602" has "$r" '"code":-32602'
check "schedule.add '0 0 30 2 *' says it never fires" has "$r" "never"
r=$(rpc '{"jsonrpc":"2.0","id":1,"method":"schedule.list","params":{}}')
check "no job was stored" has "$r" '"jobs":[]'

# Nothing half-valid was stored.
r=$(rpc '{"jsonrpc":"2.0","id":1,"method":"run.list","params":{}}')
check "no run was stored" has "$r" '"runs":[]'

# Every method's counts and ids are range-checked, not clamped or ignored.
bad() { # bad METHOD params-json field
	r=$(rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}")
	check "$1 $2 answers -32602" has "$r" '"code":-32602'
	check "$1 $2 names '$3'" has "$r" "'$3' must be from"
}
bad run.list '{"limit":-5}' limit
bad run.list '{"limit":0}' limit
bad run.list '{"limit":20000}' limit
bad run.list '{"session_id":-1}' session_id
bad session.list '{"limit":-3}' limit
bad memory.search '{"query":"x","limit":-1}' limit
bad run.events '{"id":1,"after":-1}' after
bad run.get '{"id":0}' id
bad session.get '{"id":1,"after_seq":-4}' after_seq
r=$(rpc '{"jsonrpc":"2.0","id":1,"method":"run.list","params":{"limit":10}}')
check "an in-range limit is taken" has "$r" '"result"'

# A well-formed run still starts.
r=$(rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"run.start\",\"params\":{$W,\"tools\":[\"read_file\",\"update_plan\"],\"max_steps\":3,\"max_wall_s\":30}}")
check "a valid run.start is accepted" has "$r" '"run_id"'

stop_agentd
finish
