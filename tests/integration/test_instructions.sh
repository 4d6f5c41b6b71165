#!/bin/sh
# test_instructions.sh — repository instructions end to end: a run in a
# subfolder of a repository with AGENTS.md at the root and in the subfolder
# (and the user's global one) sends all three, outermost first, right after
# the system prompt, byte-identical at every step; `agentctl show` lists the
# files; --no-project-doc and the config switch leave them out; a resumed run
# sends what its start read even when the files changed since.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home" XDG_CONFIG_HOME="$T/cfg"
mkdir -p "$HOME" "$XDG_CONFIG_HOME/agentd"
S="$(dirname "$0")/scenarios"

W="$T/repo"
make_repo "$W"
mkdir -p "$W/pkg"
printf 'ROOT-RULE: run make check before committing.\n' > "$W/AGENTS.md"
printf 'PKG-RULE: this package uses tabs.\n' > "$W/pkg/AGENTS.md"
printf 'notes\n' > "$W/pkg/notes.txt"
printf 'GLOBAL-RULE: answer briefly.\n' > "$XDG_CONFIG_HOME/agentd/AGENTS.md"

# requests.py FIELD: facts about the chat requests the mock received
requests() {
	"$PYTHON3" - "$T/mock.log" "$@" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
reqs = [r["body"] for r in reqs if r.get("path", "").endswith("/chat/completions") and r.get("body")]
what = sys.argv[2]
if what == "count":
    print(len(reqs))
elif what == "first-order":
    m = reqs[0]["messages"]
    sys0 = m[0]["content"]
    ok = (m[0]["role"] == "system" and m[1]["role"] == "user" and "Read the notes" not in sys0
          and sys0.index("GLOBAL-RULE") < sys0.index("ROOT-RULE") < sys0.index("PKG-RULE"))
    print("yes" if ok else "no: " + json.dumps(m[:2])[:400])
elif what == "same-system":
    firsts = {r["messages"][0]["content"] for r in reqs}
    print("yes" if len(firsts) == 1 and len(reqs) >= 3 else "no: %d variants over %d" % (len(firsts), len(reqs)))
elif what == "absent":
    print("yes" if all("ROOT-RULE" not in json.dumps(r) for r in reqs) else "no")
elif what == "absent-changed":
    print("yes" if reqs and all("CHANGED-RULE" not in json.dumps(r) for r in reqs) else "no")
elif what == "has":
    print("yes" if all(sys.argv[3] in r["messages"][0]["content"] for r in reqs) else "no")
PY
}

start_mock "$S/instructions.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --workspace "$W/pkg" "Read the notes" > "$T/run1.out" 2> "$T/run1.err"
check "a run in the subfolder succeeds" test $? -eq 0
check "the first request has the global, root and subfolder files in order, in the system message" \
	test "$(requests first-order)" = yes
check "every step sends the same system message (the prompt cache stays warm)" \
	test "$(requests same-system)" = yes
ctl show 1 > "$T/show1.out" 2>&1
check "agentctl show lists the files read" \
	grep -q "instructions: .*/cfg/agentd/AGENTS.md, .*/repo/AGENTS.md, .*/repo/pkg/AGENTS.md" "$T/show1.out"
ctl show 1 --json > /dev/null
ev=$(ctl --json runs 2>/dev/null; rpc '{"jsonrpc":"2.0","id":1,"method":"run.events","params":{"id":1}}')
check "the run's first event names the files" has "$ev" '"instructions":['

# --no-project-doc: none of them
: > "$T/mock.log"
ctl run --no-project-doc --workspace "$W/pkg" "Read the notes" > /dev/null 2>&1
check "--no-project-doc: the run succeeds" test $? -eq 0
check "--no-project-doc: no request carries the instructions" test "$(requests absent)" = yes
stop_agentd

# the config switch, and a fallback name
printf '{"project_doc": false}\n' > "$T/off.json"
start_agentd --llm-url "$MOCK_URL" --config "$T/off.json" || exit 1
: > "$T/mock.log"
ctl run --workspace "$W/pkg" "Read the notes" > /dev/null 2>&1
check "project_doc: false in the config turns them off" test "$(requests absent)" = yes
stop_agentd
rm "$W/pkg/AGENTS.md"
printf 'CLAUDE-RULE: from the fallback file.\n' > "$W/pkg/CLAUDE.md"
printf '{"project_doc_fallback_filenames": ["CLAUDE.md"], "project_doc_max_bytes": 4096}\n' > "$T/fb.json"
start_agentd --llm-url "$MOCK_URL" --config "$T/fb.json" || exit 1
: > "$T/mock.log"
ctl run --workspace "$W/pkg" "Read the notes" > /dev/null 2>&1
check "a configured fallback name is read where no AGENTS.md is" test "$(requests has CLAUDE-RULE)" = yes
stop_agentd
printf '{"project_doc_fallback_filenames": "CLAUDE.md"}\n' > "$T/bad.json"
"$AGENTD" --socket "$T/bad.sock" --state-dir "$T/bad-state" --config "$T/bad.json" > "$T/bad.out" 2>&1
check "a fallback list that is not an array is refused" grep -q "project_doc_fallback_filenames" "$T/bad.out"
stop_mock

# a run killed mid-way resumes with the instructions its start read
start_mock "$S/instructions_stall.json" || exit 1
STATE="$T/state-resume"
start_agentd --llm-url "$MOCK_URL" || exit 1
rid=$(ctl run --detach --workspace "$W/pkg" "Read the notes")
chats() { "$PYTHON3" -c "import urllib.request,json; print(json.loads(urllib.request.urlopen('$MOCK_ROOT/_stats').read())['chat'])"; }
wait_for sh -c "[ \$($(command -v "$PYTHON3") -c \"import urllib.request,json; print(json.loads(urllib.request.urlopen('$MOCK_ROOT/_stats').read())['chat'])\") -ge 2 ]"
check "the run is in its second step (the model stalls)" test "$(chats)" -ge 2
printf 'CHANGED-RULE: written while agentd was down.\n' > "$W/AGENTS.md"
kill9_agentd
: > "$T/mock.log"
start_agentd --llm-url "$MOCK_URL" || exit 1
wait_for sh -c "\"$AGENTCTL\" --socket '$SOCK' show $rid | grep -q succeeded"
check "the resumed run ends" sh -c "\"$AGENTCTL\" --socket '$SOCK' show $rid | grep -q succeeded"
check "the resumed run sends the text its start read" test "$(requests has ROOT-RULE)" = yes
check "not the file as changed since" test "$(requests absent-changed)" = yes
stop_agentd
stop_mock
finish
