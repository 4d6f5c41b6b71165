#!/bin/sh
# test_lifetimes.sh — objects that a worker, a deferred answer or a posted
# piece of work still refers to are not freed under them: a session deleted
# around an active, cancelled or queued run; clients that leave while their
# tools.call, search, attach or approval is pending; a schedule removed
# while its run is active; SIGHUP while runs, tool calls and the doctor
# work; SIGTERM with journal reads in flight and waiting. The sanitizer
# build runs this file under ASan: a use after free there fails it.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
S="$(dirname "$0")/scenarios"
for w in ws1 ws2 ws3 ws4 ws5; do make_repo "$T/$w"; done
printf '{"max_active_runs": 1, "approval_timeout_s": 60}\n' > "$T/cfg.json"

cat > "$T/client.py" <<'PY'
import json, os, socket, sys, time
SOCK = os.environ["SOCK"]

def req(i, method, params=None):
    return (json.dumps({"jsonrpc": "2.0", "id": i, "method": method,
                        "params": params or {}}) + "\n").encode()

def call(method, params=None, timeout=30):
    s = socket.socket(socket.AF_UNIX)
    s.connect(SOCK)
    s.sendall(req(1, method, params))
    s.settimeout(timeout)
    f = s.makefile("rb")
    while True:
        line = f.readline()
        if not line:
            return None
        o = json.loads(line)
        if o.get("id") == 1:
            s.close()
            return o

what = sys.argv[1]
if what == "call":      # METHOD PARAMS-JSON: print the answer
    print(json.dumps(call(sys.argv[2], json.loads(sys.argv[3]))))
elif what == "leave":   # send requests (JSON lines in argv) and close at once
    s = socket.socket(socket.AF_UNIX)
    s.connect(SOCK)
    for i, line in enumerate(sys.argv[2:]):
        m = json.loads(line)
        s.sendall(req(100 + i, m["method"], m.get("params")))
    time.sleep(float(os.environ.get("LEAVE_AFTER", "0")))
    s.close()
elif what == "burst":   # N requests of METHOD PARAMS on one connection, unread
    s = socket.socket(socket.AF_UNIX)
    s.connect(SOCK)
    n = int(sys.argv[2])
    s.sendall(b"".join(req(i, sys.argv[3], json.loads(sys.argv[4])) for i in range(n)))
    time.sleep(0.3)
    s.close()
PY
export SOCK
py() { "$PYTHON3" "$T/client.py" "$@"; }
run_status() { json_get "$(py call run.get "{\"id\": $1}")" 'j["result"]["status"]'; }
active_runs() { json_get "$(py call daemon.status '{}')" 'j["result"]["runs_active"]'; }

start_mock "$S/lifetimes.json" || exit 1
start_agentd --llm-url "$MOCK_URL" --config "$T/cfg.json" || exit 1

# ---- a session deleted around active, cancelled and queued runs ----
a=$(py call run.start "{\"workspace\": \"$T/ws1\", \"task\": \"slow one\", \"detach\": true}")
ra=$(json_get "$a" 'j["result"]["run_id"]') sa=$(json_get "$a" 'j["result"]["session_id"]')
b=$(py call run.start "{\"workspace\": \"$T/ws2\", \"task\": \"queued one\", \"detach\": true}")
rb=$(json_get "$b" 'j["result"]["run_id"]') sb=$(json_get "$b" 'j["result"]["session_id"]')
check "the second run waits, queued" test "$(json_get "$b" 'j["result"]["status"]')" = queued
r=$(py call session.delete "{\"id\": $sa}")
check "deleting the session of an active run is refused (-32003)" has "$r" '"code": -32003'
r=$(py call session.delete "{\"id\": $sb}")
check "the session of a queued run can be deleted" has "$r" '"deleted": true'
# cancel and delete at once, again and again until the worker has let go
py call run.cancel "{\"id\": $ra}" > /dev/null
wait_for sh -c "'$PYTHON3' '$T/client.py' call session.delete '{\"id\": $sa}' | grep -q '\"deleted\": true'"
check "the cancelled run's session is deleted once its worker has ended" \
	sh -c "'$PYTHON3' '$T/client.py' call run.get '{\"id\": $ra}' | grep -q -- '-32001'"
wait_for test "$(active_runs)" = 0
check "no run is left active and the deleted queued run never starts" test "$(active_runs)" = 0
check "the daemon serves after the deletions" ctl status

# ---- clients that leave while their answer is pending ----
c=$(py call run.start "{\"workspace\": \"$T/ws3\", \"task\": \"slow two\", \"detach\": true}")
rc=$(json_get "$c" 'j["result"]["run_id"]') sc=$(json_get "$c" 'j["result"]["session_id"]')
py leave "{\"method\": \"tools.call\", \"params\": {\"name\": \"shell\", \"workspace\": \"$T/ws3\", \"args\": {\"command\": \"sleep 1; echo late\"}}}" \
	'{"method": "memory.search", "params": {"query": "slow"}}' \
	"{\"method\": \"run.attach\", \"params\": {\"id\": $rc}}" \
	"{\"method\": \"session.export\", \"params\": {\"id\": $sc}}" \
	'{"method": "daemon.doctor"}' \
	"{\"method\": \"run.start\", \"params\": {\"workspace\": \"$T/ws4\", \"task\": \"queued and followed\"}}"
LEAVE_AFTER=0.3 py leave "{\"method\": \"run.attach\", \"params\": {\"id\": $rc}}"
sleep 1.5
check "the daemon serves after clients left with answers pending" ctl status
py call run.cancel "{\"id\": $rc}" > /dev/null
wait_for test "$(run_status "$rc")" != running
wait_for test "$(active_runs)" = 0
py call run.cancel "{\"id\": $((rc + 1))}" > /dev/null
wait_for test "$(active_runs)" = 0

# ---- a schedule removed while its run is active ----
j=$(py call schedule.add "{\"cron\": \"0 0 1 1 *\", \"workspace\": \"$T/ws5\", \"task\": \"scheduled slow\", \"branch\": false}")
jid=$(json_get "$j" 'j["result"]["id"]')
f=$(py call schedule.run "{\"id\": $jid}")
rj=$(json_get "$f" 'j["result"]["run_id"]')
check "the job fired a run" test -n "$rj"
r=$(py call schedule.rm "{\"id\": $jid}")
check "the job is removed while its run is active" has "$r" '"deleted": true'
kill -HUP "$AGENTD_PID"
check "the run of the removed job goes on" test "$(run_status "$rj")" = running
py call run.cancel "{\"id\": $rj}" > /dev/null
wait_for test "$(active_runs)" = 0
check "the run of the removed job ends" test "$(active_runs)" = 0

# ---- SIGHUP while a run, a tool call and the doctor work ----
d=$(py call run.start "{\"workspace\": \"$T/ws1\", \"task\": \"slow three\", \"detach\": true}")
rd=$(json_get "$d" 'j["result"]["run_id"]')
py call tools.call "{\"name\": \"shell\", \"workspace\": \"$T/ws1\", \"args\": {\"command\": \"sleep 1; echo done\"}}" > "$T/tool.out" &
tp=$!
py call daemon.doctor '{}' > "$T/doctor.out" &
dp=$!
for i in 1 2 3 4 5; do kill -HUP "$AGENTD_PID"; sleep 0.1; done
wait $tp $dp
check "a tool call answers across reloads" grep -q '"ok": true' "$T/tool.out"
check "the doctor answers across reloads" grep -q '"endpoints"' "$T/doctor.out"
check "the run is still active across reloads" test "$(run_status "$rd")" = running
grep -c "configuration reloaded" "$T/agentd.log" > "$T/reloads"
check "every reload was taken" test "$(cat "$T/reloads")" -ge 5

# ---- SIGTERM with journal reads in flight and waiting, a run active ----
py burst 200 session.export "{\"id\": $sc}" &
b1=$!
py burst 200 memory.search '{"query": "slow"}' &
b2=$!
sleep 0.2
stop_agentd
wait $b1 $b2
check "agentd stopped cleanly with reads pending (exit 0, nothing leaked)" \
	sh -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer' '$T/agentd.log'"
stop_mock
finish
