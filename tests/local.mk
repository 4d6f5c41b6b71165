# tests/: integration tests that run the real daemon against the scripted model server.
# One line a test, in order: the list is used for TESTS and EXTRA_DIST.
INTEGRATION_TESTS = \
	tests/integration/test_acp.sh \
	tests/integration/test_answer_once.sh \
	tests/integration/test_approval.sh \
	tests/integration/test_cli_numbers.sh \
	tests/integration/test_completion.sh \
	tests/integration/test_config_check.sh \
	tests/integration/test_crash.sh \
	tests/integration/test_daemon.sh \
	tests/integration/test_disk_full.sh \
	tests/integration/test_doctor.sh \
	tests/integration/test_eventloop.sh \
	tests/integration/test_exit_codes.sh \
	tests/integration/test_gitdir.sh \
	tests/integration/test_gitsafe.sh \
	tests/integration/test_headless.sh \
	tests/integration/test_hooks.sh \
	tests/integration/test_install.sh \
	tests/integration/test_lifetimes.sh \
	tests/integration/test_instructions.sh \
	tests/integration/test_journal_fail.sh \
	tests/integration/test_journal_open.sh \
	tests/integration/test_llm_servers.sh \
	tests/integration/test_mcp.sh \
	tests/integration/test_nongit.sh \
	tests/integration/test_private_state.sh \
	tests/integration/test_progress.sh \
	tests/integration/test_run.sh \
	tests/integration/test_run_params.sh \
	tests/integration/test_schedule.sh \
	tests/integration/test_skills.sh \
	tests/integration/test_small_disk.sh \
	tests/integration/test_stop.sh \
	tests/integration/test_stop_grace.sh \
	tests/integration/test_system_config.sh \
	tests/integration/test_systemd.sh \
	tests/integration/test_terminal_safe.sh \
	tests/integration/test_tools_cli.sh \
	tests/integration/test_unprivileged.sh
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += $(INTEGRATION_TESTS) tests/integration/lib.sh tests/integration/scenarios tests/integration/acp_client.py \
	tests/acp/package.json tests/acp/package-lock.json tests/acp/validate.mjs
