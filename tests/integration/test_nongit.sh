#!/bin/sh
# test_nongit.sh — a workspace that is not a git repository works: an
# in-place run there succeeds and its first event says that the git tools
# will refuse and undo cannot help; the git tools say so; a branch run is
# refused up front; `schedule add` on it keeps the job and warns.
. "$(dirname "$0")/lib.sh"
export GIT_CEILING_DIRECTORIES=/tmp
W="$T/plain"
mkdir -p "$W" && printf 'hello\n' >"$W/a.txt"
start_mock "$(dirname "$0")/scenarios/answer.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1

out=$(ctl run --workspace "$W" "look around" 2>&1)
rc=$?
check "an in-place run on a plain folder succeeds (rc $rc)" test $rc -eq 0
check "... and says the folder is not a git repository" has "$out" "is not a git repository that agentd can use"
check "... that undo cannot take the changes back" has "$out" "agentctl undo cannot take the run's changes back"
ctl run --json --workspace "$W" "look around" >"$T/run.jsonl" 2>&1
check "the first status event carries git:false" \
	sh -c "grep '\"type\":\"status\"' '$T/run.jsonl' | head -1 | grep -q '\"git\":false'"

out=$(ctl tool --workspace "$W" git_status '{}' 2>&1)
check "git_status on it says it is not a repository" has "$out" "repository"

out=$(ctl run --branch --workspace "$W" "on a branch" 2>&1)
rc=$?
check "a branch run on a plain folder is refused (rc $rc)" test $rc -ne 0
check "... saying why" has "$out" "a run on its own branch needs a git repository"
check "... and no run was made" test "$(json_get "$(ctl runs --json)" 'len(j)')" = 2

out=$(ctl schedule add --cron '0 3 * * *' --workspace "$W" "nightly" 2>&1)
rc=$?
check "schedule add on a plain folder keeps the job (rc $rc)" test $rc -eq 0
check "... and warns that branch runs need git" has "$out" "branch runs, which need git"
out=$(ctl schedule add --cron '0 3 * * *' --in-place --workspace "$W" "nightly" 2>&1)
check "an in-place job is warned that undo cannot help" has "$out" "agentctl undo cannot take"
make_repo "$T/repo"
out=$(ctl schedule add --cron '0 3 * * *' --workspace "$T/repo" "nightly" 2>&1)
check "a job on a repository gets no warning" lacks "$out" "warning"
stop_agentd
stop_mock
finish
