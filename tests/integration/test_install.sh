#!/bin/sh
# test_install.sh — what `make install` puts where users and their tools look:
# the programs, the man pages, the shell completions, the systemd units and
# sysusers file, and the shipped chores, which `agentctl run --chore NAME`
# then finds by name (after the repository's and the user's own chores).
. "$(dirname "$0")/lib.sh"

DEST="$T/inst"
if ! make -C "$top_builddir" install DESTDIR="$DEST" >"$T/install.out" 2>&1; then
	not_ok "make install DESTDIR=..."; tail -20 "$T/install.out"; finish; exit 1
fi
ok "make install DESTDIR=..."
prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
P="$DEST$prefix"
for f in bin/agentd bin/agentctl share/man/man8/agentd.8 share/man/man1/agentctl.1 \
	share/bash-completion/completions/agentctl share/zsh/site-functions/_agentctl \
	lib/systemd/user/agentd.service lib/systemd/user/agentd.socket \
	lib/systemd/system/agentd.service lib/systemd/system/agentd.socket lib/sysusers.d/agentd.conf \
	share/agentd/chores/todo-tracker.json share/agentd/chores/test-report.json \
	share/agentd/chores/daily-commit-notes.json; do
	check "installed: $f" test -s "$P/$f"
done
check "the installed user unit starts the installed agentd" \
	grep -qx "ExecStart=$prefix/bin/agentd" "$P/lib/systemd/user/agentd.service"

W="$T/repo"
make_repo "$W"
start_mock "$top_srcdir/tests/integration/scenarios/answer.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
# The installed data dir is under DESTDIR here: XDG_DATA_DIRS points there,
# as it does for a prefix that the compiled-in one does not cover.
export XDG_DATA_DIRS="$P/share"
out=$(ctl run --workspace "$W" --chore todo-tracker -q 2>&1)
check "run --chore NAME finds a shipped chore" has "$out" "nothing to do"
check "... and the model got the shipped chore's prompt" grep -q "TODO.md at the top of this repository" "$T/mock.log"

mkdir -p "$W/.agentd/chores"
printf '{"prompt": "the repository own todo chore", "tools": ["read_file"]}\n' > "$W/.agentd/chores/todo-tracker.json"
out=$(ctl run --workspace "$W" --chore todo-tracker -q 2>&1)
check "a repository's own chore of that name wins" grep -q "the repository own todo chore" "$T/mock.log"

out=$(ctl run --workspace "$W" --chore no-such-chore -q 2>&1)
rc=$?
check "an unknown chore name: exit 2" test "$rc" -eq 2
check "... naming where it looked" has "$out" "$P/share/agentd/chores"
stop_agentd
stop_mock
finish
