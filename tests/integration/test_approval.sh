#!/bin/sh
# test_approval.sh — approvals through the real socket: a run with
# approval "ask" sends approval.request to the attached client; an answer of
# allow lets the command run, deny and silence (timeout) refuse it, and an
# unattended run never asks. Every decision is recorded in the run's events.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
S="$(dirname "$0")/scenarios"
printf '{"approval_timeout_s": 2}\n' > "$T/cfg.json"

# client ANSWER WORKSPACE [detach]: start a run with approval ask, answer any
# approval.request with ANSWER (allow|deny|silent); print the end event data
client() {
	"$PYTHON3" - "$SOCK" "$1" "$2" "${3:-}" <<'PY'
import json, socket, sys
sock, answer, ws, detach = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX); s.connect(sock); s.settimeout(60)
f = s.makefile("rw")
def send(i, m, p): f.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": m, "params": p}) + "\n"); f.flush()
params = {"workspace": ws, "task": "run it", "approval": "ask"}
if detach: params["detach"] = True
send(1, "run.start", params)
asked = 0
for line in f:
    m = json.loads(line)
    if m.get("id") == 1 and detach:
        print(json.dumps({"run_id": m["result"]["run_id"]})); break
    if m.get("method") == "approval.request":
        asked += 1
        if answer != "silent":
            send(2, "approval.respond", {"run_id": m["params"]["run_id"],
                 "request_id": m["params"]["request_id"], "allow": answer == "allow"})
    if m.get("method") == "run.event" and m["params"]["type"] == "end":
        d = m["params"]["data"]; d["asked"] = asked; d["run_id"] = m["params"]["run_id"]
        print(json.dumps(d)); break
PY
}
approval_of() { # RUN: the stored approval event data
	"$PYTHON3" - "$SOCK" "$1" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "run.events", "params": {"id": int(sys.argv[2])}}) + "\n"); f.flush()
ev = json.loads(f.readline())["result"]["events"]
print(json.dumps([e["data"] for e in ev if e["type"] == "approval"]))
PY
}

for answer in allow deny silent; do
	W="$T/repo-$answer"
	STATE="$T/state-$answer"
	make_repo "$W"
	start_mock "$S/network.json" || exit 1
	start_agentd --llm-url "$MOCK_URL" --config "$T/cfg.json" || exit 1
	end=$(client $answer "$W")
	check "$answer: the run ends succeeded" has "$end" '"status": "succeeded"'
	check "$answer: the client was asked once" has "$end" '"asked": 1'
	run=$(json_get "$end" 'j["run_id"]')
	ap=$(approval_of "$run")
	if [ $answer = allow ]; then
		check "allow: the command ran" test -f "$W/asked.txt"
		check "allow: the approval is recorded as granted" has "$ap" '"granted": true'
	else
		check "$answer: the command did not run" test ! -e "$W/asked.txt"
		check "$answer: the denial is recorded" has "$ap" '"granted": false'
	fi
	stop_agentd
	stop_mock
done

# Answered from elsewhere: the attached client stays silent; a second
# connection finds the request in approval.list (the run's events say it
# waits) and answers it; a denial's reason reaches the model.
printf '{"approval_timeout_s": 60}\n' > "$T/cfg-long.json"
for answer in allow deny; do
	W="$T/repo-remote-$answer"
	STATE="$T/state-remote-$answer"
	make_repo "$W"
	start_mock "$S/network.json" || exit 1
	start_agentd --llm-url "$MOCK_URL" --config "$T/cfg-long.json" || exit 1
	client silent "$W" > "$T/end-$answer" &
	cpid=$!
	out=$("$PYTHON3" - "$SOCK" "$answer" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(60); f = s.makefile("rw")
n = 0
def call(m, p):
    global n; n += 1
    f.write(json.dumps({"jsonrpc": "2.0", "id": n, "method": m, "params": p}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if r.get("id") == n: return r
for _ in range(600):
    reqs = call("approval.list", {})["result"]["requests"]
    if reqs: break
    time.sleep(0.1)
q = reqs[0]
runs = call("run.list", {})["result"]["runs"]
ev = call("run.events", {"id": q["run_id"]})["result"]["events"]
print(json.dumps({"listed": q, "runs": runs, "waiting": [e["data"] for e in ev if e["type"] == "waiting"]}))
PY
)
	id=$(json_get "$out" 'j["listed"]["request_id"]')
	listing=$(ctl approvals)
	check "remote $answer: agentctl runs says the run waits" has "$(ctl runs)" "waiting: approval $id"
	if [ $answer = allow ]; then
		ans=$(ctl approve "$id")
	else
		ans=$(ctl deny "$id" --reason "not on a Friday")
	fi
	check "remote $answer: agentctl approvals lists it" has "$listing" "network access (this run has none)"
	check "remote $answer: the answer is recorded" has "$ans" "approval $id"
	check "remote $answer: a second answer finds nothing waiting" \
		sh -c "! '$AGENTCTL' --socket '$SOCK' approve $id"
	wait $cpid
	end=$(cat "$T/end-$answer")
	check "remote $answer: approval.list shows the request and why" has "$out" 'network access (this run has none)'
	check "remote $answer: the run's events say it waits for that approval" has "$out" '"waiting": [{"for": "approval"'
	check "remote $answer: run.list says the run waits" has "$out" '"waiting": "approval '
	check "remote $answer: the run goes on and ends succeeded" has "$end" '"status": "succeeded"'
	run=$(json_get "$end" 'j["run_id"]')
	if [ $answer = allow ]; then
		check "remote allow: the command ran" test -f "$W/asked.txt"
	else
		check "remote deny: the command did not run" test ! -e "$W/asked.txt"
		check "remote deny: the reason reached the model" \
			has "$(ctl show "$run" --json)" 'The person said: not on a Friday'
	fi
	stop_agentd
	stop_mock
done

# A stronger policy for one command: granted, the command writes outside
# the workspace; denied, it never runs and the model is told why. (The
# target is under /var/tmp: even full-access gives a command a private /tmp;
# it is writable by all, because as root the command runs as an unprivileged
# uid, and full-access lifts the sandbox's limits, not file permissions.)
OUT=/var/tmp/agentd-approval.$$
trap 'rm -rf "$OUT"; cleanup' EXIT
mkdir -p -m 1777 "$OUT"
for answer in allow deny; do
	W="$T/repo-esc-$answer"
	STATE="$T/state-esc-$answer"
	make_repo "$W"
	printf '{"turns": [{"tool_calls": [{"name": "shell", "arguments": {"command": "echo out > %s/%s.txt", "policy": "full-access"}}]}, {"content": "Finished."}]}\n' \
		"$OUT" "$answer" > "$T/escalate.json"
	start_mock "$T/escalate.json" || exit 1
	start_agentd --llm-url "$MOCK_URL" --config "$T/cfg.json" || exit 1
	end=$(client $answer "$W")
	check "escalate $answer: the run ends succeeded, asked once" \
		sh -c "echo '$end' | grep -q '\"status\": \"succeeded\"' && echo '$end' | grep -q '\"asked\": 1'"
	run=$(json_get "$end" 'j["run_id"]')
	ap=$(approval_of "$run")
	check "escalate $answer: the request names the policy" has "$ap" 'sandbox policy full-access for this command (the run'"'"'s is workspace-write)'
	if [ $answer = allow ]; then
		check "escalate allow: the command wrote outside the workspace" test -f "$OUT/allow.txt"
	else
		check "escalate deny: nothing was written outside" test ! -e "$OUT/deny.txt"
		check "escalate deny: the model was told" \
			has "$(ctl show "$run" --json)" 'Denied: the full-access policy was not approved'
	fi
	stop_agentd
	stop_mock
done

# Deleting a session while its run waits for an approval is refused and
# names the run (the refusal once read the run list after freeing it; the
# sanitizer build catches a relapse).
W="$T/repo-rm"
STATE="$T/state-rm"
make_repo "$W"
start_mock "$S/network.json" || exit 1
start_agentd --llm-url "$MOCK_URL" --config "$T/cfg.json" || exit 1
rm_ans=$("$PYTHON3" - "$SOCK" "$W" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(60)
f = s.makefile("rw")
def send(i, m, p): f.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": m, "params": p}) + "\n"); f.flush()
send(1, "run.start", {"workspace": sys.argv[2], "task": "run it", "approval": "ask"})
sid = None
for line in f:
    m = json.loads(line)
    if m.get("id") == 1: sid = m["result"]["session_id"]
    if m.get("method") == "approval.request": send(2, "session.delete", {"id": sid})
    if m.get("id") == 2: print(json.dumps(m)); break
PY
)
check "rm during a run: refused, naming the run" has "$rm_ans" 'has an active run'
check "rm during a run: the daemon is still up" has "$(rpc '{"jsonrpc":"2.0","id":1,"method":"daemon.status"}')" '"result"'
stop_agentd
stop_mock

# A detached (unattended) run never waits for a person.
W="$T/repo-detached"
STATE="$T/state-detached"
make_repo "$W"
start_mock "$S/network.json" || exit 1
start_agentd --llm-url "$MOCK_URL" --config "$T/cfg.json" || exit 1
run=$(json_get "$(client allow "$W" detach)" 'j["run_id"]')
wait_for sh -c "'$AGENTCTL' --socket '$SOCK' show $run --json | grep -q '\"status\":\"succeeded\"'"
ap=$(approval_of "$run")
check "detached: the run was not held for an answer" has "$(ctl show "$run" --json)" '"status":"succeeded"'
check "detached: the denial says unattended" has "$ap" '"by": "unattended"'
check "detached: the command did not run" test ! -e "$W/asked.txt"
stop_agentd
finish
