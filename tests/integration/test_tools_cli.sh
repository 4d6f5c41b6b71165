#!/bin/sh
# test_tools_cli.sh — tools through the daemon as a user runs them by hand:
# agentctl tools / tool, confinement refusals, git tools against git itself.
. "$(dirname "$0")/lib.sh"
command -v git >/dev/null || skip_all "git is not installed"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"

start_agentd --llm-url http://127.0.0.1:9/v1 || exit 1
W="$T/repo"
make_repo "$W"
echo secret > "$T/x"

check "agentctl tools lists read_file" sh -c "'$AGENTCTL' --socket '$SOCK' tools | grep -q '^read_file'"
check "agentctl tools --json gives schemas" sh -c "'$AGENTCTL' --socket '$SOCK' tools --json | grep -q '\"parameters\"'"

out=$(ctl tool read_file --workspace "$W" '{"path":"README.md"}')
check "read_file inside the workspace exits 0" test $? -eq 0
check "read_file prints the content as JSON" has "$out" '"ok":true'
check "read_file output has the line" has "$out" 'hello'

out=$(ctl tool read_file --workspace "$W" '{"path":"../x"}')
rc=$?
check "read_file ../x exits 1" test $rc -eq 1
check "read_file ../x is refused" has "$out" '"ok":false'
check "the refusal does not leak the file" lacks "$out" secret

out=$(ctl tool read_file --workspace "$W" '{"path":"/etc/passwd"}')
check "an absolute path outside exits 1" test $? -eq 1
ln -s /etc "$W/etc-link"
out=$(ctl tool read_file --workspace "$W" '{"path":"etc-link/passwd"}')
check "a symlinked folder pointing out is refused" test $? -eq 1
out=$(ctl tool write_file --workspace "$W" '{"path":"../escape.txt","content":"x"}')
check "write_file ../ exits 1" test $? -eq 1
check "nothing was written outside" test ! -e "$T/escape.txt"
rm "$W/etc-link"

ctl tool read_file --workspace "$W" '{"path":3}' > "$T/inv.out" 2>&1
check "invalid arguments exit 2 (a bad request, agentctl(1))" test $? -eq 2
check "invalid arguments say what is expected" grep -q "path" "$T/inv.out"
ctl tool no_such_tool --workspace "$W" '{}' > "$T/unk.out" 2>&1
check "an unknown tool exits 2" test $? -eq 2
ctl tool read_file --workspace "$W" 'not json' > "$T/bad.out" 2>&1
check "non-JSON arguments exit 2" test $? -eq 2

# Edits and git, compared with the git command line.
ctl tool write_file --workspace "$W" '{"path":"src/new.txt","content":"one\ntwo\n"}' >/dev/null
check "write_file creates parent folders" test -f "$W/src/new.txt"
ctl tool edit_file --workspace "$W" '{"path":"README.md","old":"hello","new":"hello world"}' >/dev/null
check "edit_file edits exactly" test "$(cat "$W/README.md")" = "hello world"
st=$(ctl tool git_status --workspace "$W" '{}')
want=$(git -C "$W" status --porcelain)
got=$(json_get "$st" 'j["output"].rstrip("\n")')
check "git_status agrees with git status --porcelain" test "$got" = "$want"
df=$(ctl tool git_diff --workspace "$W" '{}')
want=$(git -C "$W" diff | grep '^[-+@]')
got=$(json_get "$df" 'j["output"]' | grep '^[-+@]')
check "git_diff hunks agree with git diff" test "$got" = "$want"

ctl tool git_commit --workspace "$W" '{"message":"m","all":true}' > "$T/commit.out"
check "git_commit exits 0" test $? -eq 0
check "git log shows the commit" test "$(git -C "$W" log -1 --format=%s)" = "m"
check "all:true committed the tracked change" test -z "$(git -C "$W" diff HEAD --name-only -- README.md)"
ctl tool git_commit --workspace "$W" '{"message":"empty"}' > "$T/empty.out"
check "an empty commit is refused" test $? -eq 1

# The shell tool is bounded: output capped (head and tail), time limited.
out=$(ctl tool shell --workspace "$W" '{"command":"yes"}')
check "shell: yes returns a capped result" test "$(printf '%s' "$out" | wc -c)" -lt 300000
check "shell: the cut is marked" has "$out" 'bytes omitted'
out=$(timeout 30 "$AGENTCTL" --socket "$SOCK" tool shell --workspace "$W" '{"command":"sleep 1000","timeout_s":1}')
check "shell: sleep 1000 with timeout_s 1 times out" has "$out" '"timed_out":true'
out=$(ctl tool shell --workspace "$W" '{"command":"echo x > /var/tmp/agentd-outside-$$; echo in > inside.txt"}')
check "shell: nothing written outside the workspace" test ! -e "/var/tmp/agentd-outside-$$"
check "shell: the workspace is writable" test -f "$W/inside.txt"

# By hand, what the arguments ask beyond the call's own policy or network is
# denied (the person grants it with --policy / --network), never silently
# run under a weaker sandbox.
OUTF=/var/tmp/agentd-byhand.$$
trap 'rm -f "$OUTF"; cleanup' EXIT
ctl tool shell --workspace "$W" "{\"command\":\"echo x > $OUTF\",\"policy\":\"full-access\"}" > "$T/esc.out"
check "shell: policy full-access in the arguments alone exits 1" test $? -eq 1
check "shell: ... and says how to grant it" grep -q 'Denied: the call asks for the full-access policy.*--policy full-access' "$T/esc.out"
check "shell: ... and nothing was written" test ! -e "$OUTF"
ctl tool shell --workspace "$W" --policy full-access "{\"command\":\"echo x > $OUTF\",\"policy\":\"full-access\"}" > "$T/esc2.out"
check "shell: with --policy full-access it runs" test $? -eq 0
check "shell: ... and writes outside the workspace" test -f "$OUTF"
ctl tool shell --workspace "$W" '{"command":"echo ro > ro.txt","policy":"read-only"}' > "$T/ro.out"
check "shell: a weaker policy in the arguments is used as asked" sh -c "test $? -eq 1 && test ! -e '$W/ro.txt'"
ctl tool shell --workspace "$W" '{"command":"true","network":true}' > "$T/net.out"
check "shell: network in the arguments alone exits 1, denied" sh -c "test $? -eq 1 && grep -q 'Denied: the call asks for network access' '$T/net.out'"

finish
