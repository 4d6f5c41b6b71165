#!/bin/sh
# test_completion.sh — the bash (and, when installed, zsh) completion that
# agentctl prints: commands, sub-commands, flags and their values from the
# same command table and --help texts, run and session ids from the daemon,
# and nothing (quickly) when no daemon answers.
. "$(dirname "$0")/lib.sh"
command -v bash >/dev/null || skip_all "bash is needed"
export HOME="$T/home"
mkdir -p "$HOME" "$T/bin"
ln -s "$AGENTCTL" "$T/bin/agentctl"
"$AGENTCTL" completion bash > "$T/agentctl.bash"
check "completion bash prints a script" grep -q "complete -F _agentctl agentctl" "$T/agentctl.bash"
# comp WORD...: what bash completes for the words (the last one is completed)
comp() {
	PATH="$T/bin:$PATH" AGENTD_SOCKET="$SOCK" bash -c '. "$1"; shift
		COMP_WORDS=(agentctl "$@"); COMP_CWORD=$#; _agentctl; [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"' \
		x "$T/agentctl.bash" "$@" | tr '\n' ' '
}
check "command names" test "$(comp ru)" = "run runs "
check "every command of --help is offered" sh -c "[ \$(printf '%s' '$(comp '')' | wc -w) -ge 19 ]"
check "a command's flags, from its --help" test "$(comp run --wo)" = "--workspace "
check "a flag's values" test "$(comp run --policy '')" = "read-only workspace-write full-access "
check "sub-commands" test "$(comp schedule p)" = "pause "
check "sub-command flags" has "$(comp schedule add --c)" "--cron"
check "a directory after --workspace" has "$(cd "$T" && comp run --workspace bi)" "bin"
check "no daemon: no ids, and no error" test "$(comp show '')" = ""

printf '{"repeat_last": true, "turns": [{"content": "done"}]}\n' > "$T/s.json"
command -v "$PYTHON3" >/dev/null && {
	start_mock "$T/s.json" || exit 1
	start_agentd --llm-url "$MOCK_URL" || exit 1
	mkdir -p "$T/ws"
	ctl run --workspace "$T/ws" "hello" > /dev/null 2>&1
	check "run ids from the daemon" has "$(comp cancel '')" "1 "
	check "run and session ids for show" test "$(comp show '')" = "1 s1 "
	check "session ids for export" test "$(comp export '')" = "s1 "
	stop_agentd
	stop_mock
}
if command -v zsh >/dev/null; then
	"$AGENTCTL" completion zsh > "$T/_agentctl"
	check "completion zsh: zsh parses it" zsh -n "$T/_agentctl"
else
	echo "# zsh is not installed: its script is only checked for its #compdef line"
	"$AGENTCTL" completion zsh | head -1 | grep -q "#compdef agentctl"
	check "completion zsh prints a #compdef script" test $? -eq 0
fi
finish
