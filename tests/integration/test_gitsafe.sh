#!/bin/sh
# test_gitsafe.sh — the user's uncommitted work and the repository survive a
# run: a dirty checkout is reported and kept out of the run's commits, undo
# keeps later edits, and kill -9 at the worst moments of git work (inside
# worktree creation, between setup and the run's start, inside git_commit)
# leaves no stale worktree, branch or lock: the run finishes on restart and
# the git CLI agrees (git worktree list, git status, git log).
# AGENTD_TEST_PAUSE (test-only, see tools.h) holds the daemon at a known
# point so the kill lands there deterministically.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
S="$(dirname "$0")/scenarios"

# sql DB QUERY: the first column of the first row, read-only
sql() { "$PYTHON3" -c 'import sqlite3,sys
r = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True).execute(sys.argv[2]).fetchone()
print("" if r is None or r[0] is None else r[0])' "$1" "$2" 2>/dev/null; }
run_status() { sql "$STATE/agentd.db" "select status from runs where id=$1"; }
ended() { case "$(run_status "$1")" in succeeded|failed|cancelled|interrupted) return 0 ;; esac; return 1; }
worktrees() { git -C "$1" worktree list --porcelain | grep -c '^worktree '; }

# ---- a dirty checkout, in place: reported, kept out of the commits, kept by undo ----
W="$T/dirty"
STATE="$T/state-dirty"
make_repo "$W"
printf 'the user was editing this\n' >> "$W/README.md"
printf 'a new file of the user\n' > "$W/user.txt"
start_mock "$S/commit_all.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --workspace "$W" "write run.txt and commit it" > "$T/dirty.out" 2> "$T/dirty.err"
err=$(cat "$T/dirty.err")
check "agentctl run says the checkout was dirty, with the files" \
	has "$err" "uncommitted changes in 2 file(s) (README.md, user.txt)"
ev=$(ctl show 1 --json)
check "the run's first event says so too" test \
	"$(sql "$STATE/agentd.db" "select type||':'||json_extract(data,'$.dirty.count') from events where run_id=1 order by seq limit 1")" = status:2
check "the commit holds only the run's file (git show)" \
	test "$(git -C "$W" show --format= --name-only HEAD)" = "run.txt"
check "the user's edits are still uncommitted (git status)" \
	test "$(git -C "$W" status --porcelain | tr '\n' ' ')" = " M README.md ?? user.txt "
check "the commit result says what it left out" has "$ev" "Left out of the commit: 2 file(s)"
check "a last git_commit that failed is not a silent success" \
	has "$err" "warning: the run's last git_commit failed"
check "an in-place run names no branch of its own" lacks "$err" "the run's work is on branch"
# The user keeps editing after the run; undo keeps that (git reset --keep).
printf 'more after the run\n' >> "$W/README.md"
check "undo moves main back" ctl undo 1
check "undo kept the user's edits (git status, git log)" test \
	"$(git -C "$W" status --porcelain | tr '\n' ' ')$(git -C "$W" log --format=%s | tr '\n' ' ')" = \
	" M README.md ?? user.txt initial commit "
check "the README holds both of the user's edits" \
	test "$(tail -2 "$W/README.md" | tr '\n' ' ')" = "the user was editing this more after the run "
stop_agentd
stop_mock

# A file the run changed, edited again by the user: undo refuses, nothing changes.
W="$T/undo-refused"
STATE="$T/state-undo"
make_repo "$W"
start_mock "$S/commit_all.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --workspace "$W" "write run.txt and commit it" > /dev/null 2>&1
printf 'the user edits the run file\n' >> "$W/run.txt"
before=$(git -C "$W" rev-parse HEAD; git -C "$W" status --porcelain)
out=$(ctl undo 1 2>&1)
check "undo refuses when a file it would change has local changes" has "$out" "run.txt"
check "... and changes nothing" test "$(git -C "$W" rev-parse HEAD; git -C "$W" status --porcelain)" = "$before"
stop_agentd
stop_mock

# ---- a branch run on a dirty checkout that commits nothing ----
W="$T/branch-nothing"
STATE="$T/state-bn"
make_repo "$W"
printf 'local edit\n' >> "$W/README.md"
start_mock "$S/answer.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --branch --workspace "$W" "look around" > /dev/null 2> "$T/bn.err"
err=$(cat "$T/bn.err")
check "a --branch run says the local changes are not in its worktree" \
	has "$err" "they are not in the run's worktree"
check "no 'work is on branch' when the run committed nothing" lacks "$err" "the run's work is on branch"
stop_agentd
stop_mock

# ---- kill -9 inside worktree creation (branch made, worktree not) ----
W="$T/kill-wt"
STATE="$T/state-kill-wt"
make_repo "$W"
start_mock "$S/commit_all.json" || exit 1
export AGENTD_TEST_PAUSE=worktree-add:20000
	start_agentd --llm-url "$MOCK_URL" || exit 1
	unset AGENTD_TEST_PAUSE
ctl run --detach --branch --workspace "$W" "write run.txt and commit it" > /dev/null
wait_for sh -c "git -C '$W' branch --list 'agentd/*' | grep -q agentd/1"
check "the kill lands inside worktree creation (intent journaled, no base_oid yet)" \
	test "$(sql "$STATE/agentd.db" "select coalesce(base_oid,'none')||':'||(worktree is not null) from runs where id=1")" = "none:1"
kill9_agentd
start_agentd --llm-url "$MOCK_URL" || exit 1
wait_for ended 1
check "the run finishes after the restart ($(run_status 1): $(sql "$STATE/agentd.db" "select reason from runs where id=1"))" \
	test "$(run_status 1)" = succeeded
check "no worktree is left (git worktree list)" test "$(worktrees "$W")" = 1
check "no worktree folder is left" test -z "$(ls "$STATE/worktrees" 2>/dev/null)"
check "one branch, with the run's commit (git log)" test \
	"$(git -C "$W" branch --list 'agentd/*' | tr -d ' \n')|$(git -C "$W" log --format=%s agentd/1 | head -2 | tr '\n' ' ')" = \
	"agentd/1|Add run.txt initial commit "
check "the user's checkout is untouched (git status)" test -z "$(git -C "$W" status --porcelain)"
stop_agentd
stop_mock

# ---- kill -9 between setup and the run's start, branch and in place ----
for mode in branch in-place; do
	W="$T/kill-setup-$mode"
	STATE="$T/state-setup-$mode"
	make_repo "$W"
	start_mock "$S/commit_all.json" || exit 1
	export AGENTD_TEST_PAUSE=run-setup:20000
	start_agentd --llm-url "$MOCK_URL" || exit 1
	unset AGENTD_TEST_PAUSE
	if [ $mode = branch ]; then flag=--branch; else flag=; fi
	ctl run --detach $flag --workspace "$W" "write run.txt and commit it" > /dev/null
	wait_for sh -c "test -n \"\$(\"$PYTHON3\" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select base_oid from runs where id=1\").fetchone()[0] or \"\")' '$STATE/agentd.db' 2>/dev/null)\""
	kill9_agentd
	start_agentd --llm-url "$MOCK_URL" || exit 1
	wait_for ended 1
	check "$mode: killed after setup, the run finishes ($(run_status 1): $(sql "$STATE/agentd.db" "select reason from runs where id=1"))" \
		test "$(run_status 1)" = succeeded
	check "$mode: no worktree left, one branch at most (git)" test \
		"$(worktrees "$W"):$(git -C "$W" branch | wc -l)" = "1:$([ $mode = branch ] && echo 2 || echo 1)"
	if [ $mode = branch ]; then
		check "$mode: the commit is on the run's branch" \
			test "$(git -C "$W" log -1 --format=%s agentd/1)" = "Add run.txt"
	else
		check "$mode: the run stayed in place (commit on main, no worktree recorded)" test \
			"$(git -C "$W" log -1 --format=%s main)|$(sql "$STATE/agentd.db" "select coalesce(worktree,'none') from runs where id=1")" = \
			"Add run.txt|none"
	fi
	stop_agentd
	stop_mock
done

# ---- kill -9 inside git_commit: the lock it leaves is cleaned, a user's is not ----
for who in agentd user; do
	W="$T/kill-commit-$who"
	STATE="$T/state-commit-$who"
	make_repo "$W"
	start_mock "$S/commit_all.json" || exit 1
	export AGENTD_TEST_PAUSE=git-commit:20000
	start_agentd --llm-url "$MOCK_URL" || exit 1
	unset AGENTD_TEST_PAUSE
	ctl run --detach --workspace "$W" "write run.txt and commit it" > /dev/null
	wait_for sh -c "test \"\$(\"$PYTHON3\" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select status from tool_calls where name=\\\"git_commit\\\" order by rowid\").fetchone()[0])' '$STATE/agentd.db' 2>/dev/null)\" = started"
	kill9_agentd
	# What a kill inside libgit2's index write leaves (3 of 4 real kills do):
	# index.lock, made during the call. A user's lock is older than the call.
	if [ $who = agentd ]; then
		printf 'partial index' > "$W/.git/index.lock"
	else
		printf 'a user git' > "$W/.git/index.lock"
		touch -d '1 hour ago' "$W/.git/index.lock"
	fi
	start_agentd --llm-url "$MOCK_URL" || exit 1
	wait_for ended 1
	err=$(ctl attach 1 2>&1)
	if [ $who = agentd ]; then
		check "commit kill: the stale index.lock is gone" test ! -e "$W/.git/index.lock"
		check "commit kill: the run succeeded with its commit (git log, git status)" test \
			"$(run_status 1)|$(git -C "$W" log --format=%s | tr '\n' ' ')|$(git -C "$W" status --porcelain)" = \
			"succeeded|Add run.txt (again) initial commit |"
		check "commit kill: the interrupted call's result says the lock was removed" \
			has "$(ctl show 1 --json)" "It left lock files, now removed"
	else
		check "commit kill: a user's lock is never removed" test -e "$W/.git/index.lock"
		check "commit kill: the failed commit is not a silent success" \
			has "$err" "warning: the run's last git_commit failed"
		check "commit kill: nothing was committed (git log)" \
			test "$(git -C "$W" log --format=%s)" = "initial commit"
	fi
	stop_agentd
	stop_mock
done
finish
