#!/bin/sh
# test_daemon.sh — the foundation end to end: agentd on a temporary socket,
# agentctl and raw JSON-RPC over the real socket, bad input, one daemon per
# socket, peer credentials, many clients, SIGHUP, SIGTERM and stale sockets.
. "$(dirname "$0")/lib.sh"
command -v socat >/dev/null || skip_all "socat is not installed (apt-get install socat)"

start_agentd --llm-url http://127.0.0.1:9/v1 || exit 1

check "agentctl status exits 0" ctl status
check "status --json names the socket" sh -c "'$AGENTCTL' --socket '$SOCK' status --json | grep -q '\"socket\":\"$SOCK\"'"
check "socket is mode 0600" test "$(stat -c %a "$SOCK")" = 600

r=$(rpc '{"jsonrpc":"2.0","id":1,"method":"nope"}')
check "unknown method answers -32601" has "$r" '"code":-32601'
r=$(rpc 'this is not json')
check "garbage answers -32700" has "$r" '"code":-32700'
check "the daemon survives garbage" ctl status
r=$(rpc '[1,2]')
check "a non-object answers -32600" has "$r" '"code":-32600'
r=$(rpc '{"jsonrpc":"1.0","id":2,"method":"daemon.status"}')
check "a wrong jsonrpc version answers -32600" has "$r" '"code":-32600'
r=$(rpc '{"jsonrpc":"2.0","id":3,"method":"run.get","params":{"id":"x"}}')
check "a mistyped param answers -32602" has "$r" '"code":-32602'
r=$(rpc '{"jsonrpc":"2.0","id":4,"method":"run.get","params":{}}')
check "a missing param answers -32602" has "$r" '"code":-32602'

# The connection stays usable after errors: three requests on one connection.
out=$(printf '%s\n' 'garbage' '{"jsonrpc":"2.0","id":9,"method":"nope"}' \
	'{"jsonrpc":"2.0","id":10,"method":"daemon.status"}' |
	timeout 10 socat -t 3 - "UNIX-CONNECT:$SOCK")
check "one connection answers three requests after errors" \
	sh -c '[ "$(printf "%s\n" "$1" | wc -l)" -eq 3 ] && printf "%s\n" "$1" | tail -n1 | grep -q "\"id\":10,\"result\""' - "$out"

# A line over the cap gets an error and the connection is closed.
"$PYTHON3" -c 'import sys; sys.stdout.write("{\"x\":\"" + "a"*(1024*1024+10) + "\"}\n")' > "$T/big.json"
r=$(timeout 10 socat -t 3 - "UNIX-CONNECT:$SOCK" < "$T/big.json" | head -n 1)
check "an over-long line answers an error" has "$r" 'exceeds'
check "the daemon serves after an over-long line" ctl status

# 64 clients at once, each holding its connection open while others are served.
i=0
while [ $i -lt 64 ]; do
	( printf '{"jsonrpc":"2.0","id":%d,"method":"daemon.status"}\n' $i; sleep 2 ) |
		timeout 10 socat -t 3 - "UNIX-CONNECT:$SOCK" > "$T/c$i.out" 2>&1 &
	i=$((i + 1))
done
sleep 0.5
check "a 65th client is served while 64 hold connections" ctl status
wait_for sh -c "[ \$(cat $T/c*.out | grep -c '\"result\"') -eq 64 ]"
check "all 64 clients got their answer" sh -c "[ \$(cat $T/c*.out | grep -c '\"result\"') -eq 64 ]"

# One daemon per socket: a second agentd exits non-zero and leaves the first serving.
"$AGENTD" --socket "$SOCK" --state-dir "$T/state2" > "$T/second.log" 2>&1
rc=$?
check "a second agentd on the socket exits non-zero" test $rc -ne 0
check "the second agentd says why" grep -q "already serving" "$T/second.log"
check "the first keeps serving" ctl status

# Peer credentials: another uid is refused even when the socket mode would let it in.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 0777 "$T"; chmod 0666 "$SOCK"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$AGENTCTL" --socket "$SOCK" status > "$T/nobody.out" 2>&1
	rc=$?
	chmod 0600 "$SOCK"
	check "another uid is refused" test $rc -ne 0
	check "the refusal is logged" grep -q "refused a connection from uid 65534" "$T/agentd.log"
fi

# Not-implemented and unknown runs answer clear errors.
r=$(rpc '{"jsonrpc":"2.0","id":5,"method":"run.get","params":{"id":424242}}')
check "an unknown run answers not found" has "$r" '"code":-32001'

# SIGHUP reloads the config; a broken config is refused with file:line:col and the old one kept.
printf '{ "max_steps": 7 }\n' > "$T/cfg.json"
kill9_agentd
start_agentd --config "$T/cfg.json" --llm-url http://127.0.0.1:9/v1 || exit 1
check "a stale socket left by kill -9 is reused" ctl status
printf '{ "max_steps": 9 }\n' > "$T/cfg.json"
kill -HUP "$AGENTD_PID"
wait_for sh -c "'$AGENTCTL' --socket '$SOCK' status --json | grep -q '\"max_steps\":9'"
check "SIGHUP reloads the configuration" sh -c "'$AGENTCTL' --socket '$SOCK' status --json | grep -q '\"max_steps\":9'"
printf '{ "max_steps": 9,\n  oops }\n' > "$T/cfg.json"
kill -HUP "$AGENTD_PID"
wait_for grep -q "reload failed" "$T/agentd.log"
check "a broken config on reload names file:line:column" grep -q "cfg.json:2:" "$T/agentd.log"
check "the daemon keeps serving after a bad reload" ctl status
"$AGENTD" --config "$T/cfg.json" --socket "$T/other.sock" --state-dir "$T/s3" > "$T/bad.log" 2>&1
check "a broken config at start is refused with file:line:column" grep -q "cfg.json:2:" "$T/bad.log"

# A database that is not ours (garbage, or a newer schema) is refused at start and never touched.
mkdir -p "$T/bad-state"
head -c 8192 /dev/urandom > "$T/bad-state/agentd.db"
sum1=$(md5sum < "$T/bad-state/agentd.db")
"$AGENTD" --socket "$T/bad.sock" --state-dir "$T/bad-state" > "$T/baddb.log" 2>&1
check "a corrupt database makes agentd refuse to start" test $? -ne 0
check "the refusal says why" grep -qi "journal" "$T/baddb.log"
check "the corrupt database is left untouched" test "$(md5sum < "$T/bad-state/agentd.db")" = "$sum1"
"$PYTHON3" -c "import sqlite3,sys; db=sqlite3.connect(sys.argv[1]); db.execute('pragma user_version=99'); db.commit()" "$T/newer.db"
mkdir -p "$T/newer-state" && mv "$T/newer.db" "$T/newer-state/agentd.db"
"$AGENTD" --socket "$T/newer.sock" --state-dir "$T/newer-state" > "$T/newer.log" 2>&1
check "a database from a newer agentd is refused" grep -q "newer" "$T/newer.log"

# The default config file is read, and its model applies without an llm_url.
stop_agentd
mkdir -p "$T/home/.config/agentd"
printf '{"model": "from-file", "max_steps": 5}\n' > "$T/home/.config/agentd/config.json"
HOME="$T/home" XDG_CONFIG_HOME= start_agentd || exit 1
st=$(ctl status --json)
check "~/.config/agentd/config.json is read by default" has "$st" '"max_steps":5'
check "the file's model applies to the default endpoint" has "$st" '"model":"from-file"'

# SIGTERM: graceful, socket removed.
stop_agentd
check "SIGTERM removes the socket" test ! -e "$SOCK"
ctl status > "$T/nodaemon.out" 2>&1
rc=$?
check "agentctl without a daemon exits 2" test $rc -eq 2
check "agentctl says how to start one" grep -q "agentd --socket" "$T/nodaemon.out"

finish
