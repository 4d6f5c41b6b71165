#!/bin/sh
# test_terminal_safe.sh — text that came from the model, a file in the
# workspace, the workspace's own name and the task reaches the terminal with
# its control characters neutralised: no ESC, BEL, other C0 (but newline and
# tab), DEL, C1 control or bidi override in the bytes of any command's text
# output or of agentd's log; --json keeps the exact text, escaped by JSON.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"

ESC=$(printf '\033')
# The workspace's name sets the title, the task clears the screen.
W="$T/ws-${ESC}]0;WSNAME$(printf '\007')"
make_repo "$W"
printf '# Helo \033]0;PWNED\007\033[2J\n' > "$W/README.md"
git -C "$W" commit -q -am "evil readme"
TASK=$(printf 'fix \033]0;TASK\007\033[2J it')

cat > "$T/evil.json" <<'JSON'
{"turns": [
 {"content": "Reading \u001b]0;PWNED\u0007 now",
  "tool_calls": [{"name": "update_plan", "arguments": {"steps": [{"step": "Plan \u001b[2J step", "status": "completed"}]}},
                 {"name": "read_file", "arguments": {"path": "README.md"}}]},
 {"tool_calls": [{"name": "read_file", "arguments": {"path": "no\u001b[2Jfile"}}]},
 {"content": "Done \u001b]0;PWNED\u0007\u001b[2J C1:\u009b2J DEL:\u007f bidi:\u202eevil end"}
]}
JSON
ANSWER=$(printf 'Done \033]0;PWNED\007\033[2J C1:\302\2332J DEL:\177 bidi:\342\200\256evil end')

start_mock "$T/evil.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1

# inert FILE...: no terminal control in the bytes of each file
inert() {
	"$PYTHON3" - "$@" <<'PY'
import re, sys
bad = re.compile(r'[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\udc80-\udcff]')
rc = 0
for f in sys.argv[1:]:
    t = open(f, 'rb').read().decode('utf-8', 'surrogateescape')
    for m in bad.finditer(t):
        print('%s: %r at %d: %r' % (f, m.group(), m.start(), t[max(0, m.start() - 20):m.start() + 20]))
        rc = 1
        break
sys.exit(rc)
PY
}

ctl run --workspace "$W" "$TASK" > "$T/run.out" 2> "$T/run.err"
check "the run succeeds" test $? -eq 0
check "the run's answer was printed" grep -q "Done" "$T/run.out"
check "the README line was read" grep -q "Helo" "$T/mock.log"
check "agentctl run: stdout is inert" inert "$T/run.out"
check "agentctl run: progress on stderr is inert" inert "$T/run.err"
check "agentctl run: a tool call's arguments are escaped once" \
	grep -qF '→ read_file {"path":"no\u001B[2Jfile"}' "$T/run.err"
check "agentctl run: a tool call's arguments are not escaped twice" \
	sh -c "! grep -qF 'no\\\\x1b' '$T/run.err'"
check "agentctl run: the answer shows its escapes" grep -qF 'Done \x1b]0;PWNED\x07\x1b[2J C1:\u009b2J DEL:\x7f bidi:\u202eevil end' "$T/run.out"

rid=$(json_get "$(ctl runs --json)" 'j[0]["id"]')
sid=$(json_get "$(ctl runs --json)" 'j[0]["session_id"]')
ctl attach "$rid" > "$T/attach.out" 2>&1
ctl show "$rid" > "$T/show.out" 2>&1
ctl show "s$sid" > "$T/show-s.out" 2>&1
ctl runs > "$T/runs.out" 2>&1
ctl sessions > "$T/sessions.out" 2>&1
wait_for sh -c "'$AGENTCTL' --socket '$SOCK' search Helo | grep -q Helo"
ctl search Helo > "$T/search.out" 2>&1
ctl search PWNED > "$T/search2.out" 2>&1
ctl export "s$sid" --format markdown > "$T/export.md" 2>&1
ctl export "s$sid" --format jsonl > "$T/export.jsonl" 2>&1
ctl runs --json > "$T/runs.json"
ctl sessions --json > "$T/sessions.json"
ctl show "$rid" --json > "$T/show.json"
ctl show "s$sid" --json > "$T/show-s.json"
ctl search PWNED --json > "$T/search.json"
ctl run --json --workspace "$W" "$TASK" > "$T/run.json" 2> "$T/run-json.err"
check "attach has the README line" grep -q "Helo" "$T/attach.out"
check "show has the README line" grep -q "Helo" "$T/show.out"
check "search finds the README line" grep -q "Helo" "$T/search.out"
check "export has the README line" grep -q "Helo" "$T/export.md"
for f in attach.out show.out show-s.out runs.out sessions.out search.out search2.out export.md \
    export.jsonl runs.json sessions.json show.json show-s.json search.json run.json run-json.err; do
	check "$f is inert" inert "$T/$f"
done
check "the text output keeps newlines" test "$(wc -l < "$T/show-s.out")" -gt 5

# --json keeps the exact text.
exact() { # FILE PYTHON-EXPRESSION-ON-j WANT
	"$PYTHON3" - "$@" <<'PY'
import json, sys
f, expr, want = sys.argv[1:4]
j = json.load(open(f, encoding='utf-8'))
got = eval(expr)
if got != want:
    print('%s: got %r, want %r' % (f, got, want))
    sys.exit(1)
PY
}
check "runs --json: the task exactly" exact "$T/runs.json" 'j[-1]["task"]' "$TASK"
check "runs --json: the workspace exactly" exact "$T/runs.json" 'j[-1]["workspace"]' "$W"
check "show --json: the task exactly" exact "$T/show.json" 'j["task"]' "$TASK"
check "show s --json: the answer exactly" exact "$T/show-s.json" 'j["messages"][-1]["content"]' "$ANSWER"
check "show s --json: the README line exactly" exact "$T/show-s.json" \
	'[m["content"] for m in j["messages"] if m["role"] == "tool" and "Helo" in m["content"]][0].split("\n")[0].split("# ")[1]' \
	"$(printf 'Helo \033]0;PWNED\007\033[2J')"
check "export jsonl: the answer exactly" "$PYTHON3" -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
sys.exit(0 if any(m.get("content") == sys.argv[2] for m in lines) else 1)' "$T/export.jsonl" "$ANSWER"
check "run --json: the streamed answer exactly" "$PYTHON3" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
sys.exit(0 if any(e.get("type") == "end" and e["data"].get("answer") == sys.argv[2] for e in ev) else 1)' "$T/run.json" "$ANSWER"

stop_agentd
check "agentd's log names the workspace" grep -q "WSNAME" "$T/agentd.log"
check "agentd's log is inert" inert "$T/agentd.log"
stop_mock

# A model server's own words (an error page) in agentctl doctor.
cat > "$T/evil_server.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def reply(self):
        body = b"<html>\x1b]0;PWNED\x07\x1b[2J broken</html>"
        self.send_response(500); self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    do_GET = do_POST = reply
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()
PY
"$PYTHON3" "$T/evil_server.py" "$T/evil.port" &
EVIL_PID=$!
wait_for test -s "$T/evil.port"
start_agentd --llm-url "http://127.0.0.1:$(cat "$T/evil.port")/v1" || exit 1
ctl doctor > "$T/doctor.out" 2>&1
check "agentctl doctor quotes the server's error page" grep -q "PWNED" "$T/doctor.out"
check "agentctl doctor is inert" inert "$T/doctor.out"
stop_agentd
kill "$EVIL_PID" 2>/dev/null
finish
