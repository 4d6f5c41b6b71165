#!/bin/sh
# test_skills.sh — skills end to end: the model is offered names and
# descriptions only; a skill's body reaches it after it calls `skill`, its
# reference files through `skill {file}`, its scripts run in the sandbox;
# a chore can load a skill up front; `agentctl skills` lists what a workspace
# sees and what was refused, and why.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home" XDG_CONFIG_HOME="$T/cfg"
mkdir -p "$HOME" "$XDG_CONFIG_HOME/agentd/skills"
W="$T/repo"
make_repo "$W"
SK="$W/.agents/skills/release-notes"
mkdir -p "$SK/scripts" "$SK/references" "$W/.agents/skills/Bad_Name"
cat > "$SK/SKILL.md" <<'MD'
---
name: release-notes
description: Write release notes from the git log, in the project's style.
metadata:
  owner: docs-team
---
BODY-MARKER: read references/style.md, then run scripts/count.sh.
MD
printf 'STYLE-MARKER: one line per change, past tense.\n' > "$SK/references/style.md"
printf 'echo SCRIPT-MARKER $(git log --oneline | wc -l) commits\n' > "$SK/scripts/count.sh"
printf -- '---\nname: Bad_Name\ndescription: x\n---\nx\n' > "$W/.agents/skills/Bad_Name/SKILL.md"
mkdir -p "$XDG_CONFIG_HOME/agentd/skills/personal-review"
printf -- '---\nname: personal-review\ndescription: "My own review checklist."\n---\nREVIEW-BODY\n' \
	> "$XDG_CONFIG_HOME/agentd/skills/personal-review/SKILL.md"

requests() {
	"$PYTHON3" - "$T/mock.log" "$1" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
reqs = [r["body"] for r in reqs if r.get("path", "").endswith("/chat/completions") and r.get("body")]
def text(r): return json.dumps(r["messages"])
print(eval(sys.argv[2]))
PY
}

ctl skills --workspace "$W" > "$T/skills.out" 2>&1
check "agentctl skills lists the repository's skill" grep -q "^release-notes .*Write release notes" "$T/skills.out"
check "agentctl skills lists the user's skill" grep -q "^personal-review" "$T/skills.out"
check "agentctl skills says why a folder was refused" grep -q "Bad_Name/SKILL.md: the name may hold only lowercase" "$T/skills.out"
ctl skills --workspace "$W" --json > "$T/skills.json"
check "agentctl skills --json" test "$(json_get "$(cat "$T/skills.json")" 'len(j["skills"])')" = 2

start_mock "$(dirname "$0")/scenarios/skills.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --workspace "$W" "Write the release notes" > "$T/run.out" 2>&1
check "the run succeeds" grep -q "Release notes written." "$T/run.out"
check "the first request offers the skill by name and description" \
	test "$(requests '"release-notes: Write release notes" in reqs[0]["messages"][0]["content"]')" = True
check "the first request offers the skill tool" \
	test "$(requests 'any(t["function"]["name"] == "skill" for t in reqs[0]["tools"])')" = True
check "the body is not in the first request" test "$(requests '"BODY-MARKER" in text(reqs[0])')" = False
check "the body reaches the model after it asked" test "$(requests '"BODY-MARKER" in text(reqs[1])')" = True
check "the body came without its front matter" test "$(requests '"owner: docs-team" in text(reqs[1])')" = False
check "a reference file is read through skill {file}" test "$(requests '"STYLE-MARKER" in text(reqs[2])')" = True
check "the skill's script ran with the shell tool" test "$(requests '"SCRIPT-MARKER 1 commits" in text(reqs[3])')" = True
check "every request sends the same system message" \
	test "$(requests 'len({r["messages"][0]["content"] for r in reqs})')" = 1

# a chore loads a skill up front
cat > "$T/chore.json" <<'JSON'
{"name": "notes", "prompt": "Write the release notes.", "skills": ["release-notes"]}
JSON
: > "$T/mock.log"
ctl run --workspace "$W" --chore "$T/chore.json" > /dev/null 2>&1
check "a chore's skill is in the first request, with the task" \
	test "$(requests '"BODY-MARKER" in reqs[0]["messages"][-1]["content"]')" = True
cat > "$T/chore2.json" <<'JSON'
{"name": "notes", "prompt": "Write the release notes.", "skills": ["no-such-skill"]}
JSON
ctl run --workspace "$W" --chore "$T/chore2.json" > "$T/chore2.out" 2>&1
check "a chore naming a missing skill fails, naming it" grep -q 'skill "no-such-skill"' "$T/chore2.out"
printf '{"name": "x", "prompt": "p", "skills": "release-notes"}\n' > "$T/chore3.json"
ctl run --workspace "$W" --chore "$T/chore3.json" > "$T/chore3.out" 2>&1
check "a chore whose skills is not a list is refused" grep -q "'skills' must be an array" "$T/chore3.out"
stop_agentd

# skills switched off
printf '{"skills": false}\n' > "$T/off.json"
start_agentd --llm-url "$MOCK_URL" --config "$T/off.json" || exit 1
: > "$T/mock.log"
ctl run --workspace "$W" "Write the release notes" > /dev/null 2>&1
check "skills: false offers none" test "$(requests '"release-notes" in text(reqs[0])')" = False
stop_agentd
stop_mock
finish
