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

# Error messages that quote a client's bytes cut mid-character still get an answer.
r=$("$PYTHON3" -c 'import sys; sys.stdout.write("{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"a" + "\u00e9"*300 + "\"}\n")' |
	timeout 10 socat -t 3 - "UNIX-CONNECT:$SOCK" | head -n 1)
check "a long non-ASCII unknown method answers -32601" has "$r" '"code":-32601'
r=$(rpc '{"jsonrpc":"2.0","id":12,"method":"daemon.status","params":{"bogus":1}}')
check "an unknown param of a method without params answers -32602" has "$r" '"code":-32602'

# A task cut at the session title's length keeps the title valid UTF-8.
mkdir -p "$T/ws-title"
task=$("$PYTHON3" -c 'print("a" + "\u00e9"*100)')
ctl run --detach --workspace "$T/ws-title" "$task" > /dev/null 2>&1
titles=$(ctl sessions --json)
check "a session title is cut on a character boundary" test "$(json_get "$titles" \
	'any(s["title"].startswith("a\u00e9\u00e9") for s in j) and all("\ufffd" not in s["title"] for s in j)')" = True

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
	chmod 0600 "$SOCK"; chmod 0700 "$T"	# agentd refuses a socket dir others may write to
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

# Raising max_line_bytes on reload applies to connections already open.
# reload CONFIG-TEXT: write the config, SIGHUP, wait until the daemon says it reloaded
reload() {
	local n
	n=$(grep -c "configuration reloaded" "$T/agentd.log")
	printf '%s\n' "$1" > "$T/cfg.json"
	kill -HUP "$AGENTD_PID"
	wait_for sh -c "[ \$(grep -c 'configuration reloaded' '$T/agentd.log') -gt $n ]"
}
reload '{ "max_line_bytes": 1024 }'
out=$("$PYTHON3" - "$SOCK" "$AGENTD_PID" "$T/cfg.json" "$T/agentd.log" <<'PY'
import os, signal, socket, sys, time
def reloads():
    return open(sys.argv[4], errors="replace").read().count("configuration reloaded")
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
n = reloads()
open(sys.argv[3], "w").write('{ "max_line_bytes": 8192 }\n')
os.kill(int(sys.argv[2]), signal.SIGHUP)
for i in range(200):
    if reloads() > n:
        break
    time.sleep(0.05)
s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"run.list","params":{"status":"' + b"x" * 3000 + b'"}}\n')
print(s.makefile("rb").readline().decode()[:100])
PY
)
check "a line under the reloaded (larger) cap is served on an open connection" has "$out" '"id":1,'
# agentctl shows the daemon's error for a line over the cap (no id in that answer).
reload '{ "max_line_bytes": 1024 }'
ctl run --detach --workspace "$T" "$("$PYTHON3" -c 'print("y"*2000)')" > "$T/longline.out" 2>&1
check "agentctl reports a line over the cap" grep -q "exceeds 1024 bytes" "$T/longline.out"
printf '{ "max_line_bytes": -1 }\n' > "$T/neg.json"
timeout 10 "$AGENTD" --config "$T/neg.json" --socket "$T/neg.sock" --state-dir "$T/s4" > "$T/neg.log" 2>&1
check "a negative max_line_bytes is refused" grep -q "'max_line_bytes' must be from 1024" "$T/neg.log"

# Out of file descriptors: accept backs off instead of spinning on the listener.
if command -v prlimit >/dev/null; then
	hard=$(prlimit --pid "$AGENTD_PID" --nofile --raw --noheadings --output HARD)
	prlimit --pid "$AGENTD_PID" --nofile=40:
	before=$(grep -c "accept:" "$T/agentd.log")
	"$PYTHON3" - "$SOCK" <<'PY'
import socket, sys, time
held = []
for i in range(60):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)
time.sleep(2)
PY
	after=$(grep -c "accept:" "$T/agentd.log")
	check "out of descriptors, accept errors are not logged in a loop" test $((after - before)) -lt 20
	prlimit --pid "$AGENTD_PID" --nofile="$hard":
	check "the daemon serves again once descriptors are free" wait_for ctl status
fi

# At the connection limit (half the descriptors: 32 with 64), a newcomer is
# served by closing the client silent longest, if it waits for nothing;
# fresh clients and one waiting for a tools.call answer are kept.
stop_agentd
nofile=$(ulimit -S -n)
ulimit -S -n 64
start_agentd || exit 1
ulimit -S -n "$nofile"
mkdir -p "$T/ws-limit"
res=$("$PYTHON3" - "$SOCK" "$T/ws-limit" <<'PY'
import json, socket, sys, time
path, ws = sys.argv[1], sys.argv[2]
status = b'{"jsonrpc":"2.0","id":1,"method":"daemon.status"}\n'
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(path); return s
def ask(s, line, t):
    # the answer line, or "" when the daemon closed the connection instead
    try:
        s.sendall(line)
    except OSError:
        return ""
    return answer(s, t)
def answer(s, t):
    s.settimeout(t)
    try:
        return s.makefile().readline()
    except OSError:
        return ""
busy = conn()
busy.sendall(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools.call", "params": {
    "name": "shell", "workspace": ws, "args": {"command": "sleep 8; echo slept"}}}).encode() + b"\n")
time.sleep(0.5)    # the busy client is the one silent longest
held = [conn() for _ in range(31)]
time.sleep(0.5)
refused = ask(conn(), status, 3) == ""
time.sleep(6)
served = '"result"' in ask(conn(), status, 5)
got = answer(busy, 30)
print(json.dumps({"refused_while_all_fresh": refused, "served_after_idle": served,
                  "busy_kept": '"id":7' in got and "slept" in got}))
PY
)
check "at the limit, a newcomer is refused while every client is fresh" has "$res" '"refused_while_all_fresh": true'
check "at the limit, the longest-silent client makes room" has "$res" '"served_after_idle": true'
check "a client waiting for a tools.call answer is never the one closed" has "$res" '"busy_kept": true'
check "the daemon logs which client it closed" grep -q "(the limit): closed client" "$T/agentd.log"

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
