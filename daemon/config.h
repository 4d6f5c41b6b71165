/*
 * config.h — agentd's settings: defaults, then the JSON config file, then
 * the environment (AGENTD_SOCKET, AGENTD_LLM_URL, AGENTD_MODEL,
 * AGENTD_API_KEY), then command-line flags. Every flag is also a config key.
 * SIGHUP re-reads the file (the socket and state dir keep their values).
 */
#ifndef AGENTD_CONFIG_H
#define AGENTD_CONFIG_H

#include <jansson.h>
#include "common/error.h"
#include "agent/agent.h"

struct config {
	char *config_file;	/* the user's file; NULL when none */
	char *system_config_file; /* read first; NULL when none */
	char *socket_path;
	char *state_dir;
	int log_level;
	size_t max_line;	/* request line cap */
	int max_concurrent_runs;	/* scheduled runs at once */
	int max_active_runs;		/* runs at once, all kinds; 0 = no limit (the rest wait, queued) */
	int stop_grace_s;		/* at a stop, in-flight tool calls may finish this long */
	double retention_max_age_s;	/* 0 = keep */
	int retention_max_count;	/* 0 = keep */
	struct agent_config agent;	/* loop settings; agent.llm owns its strings */
	/* Strings the agent config borrows. */
	char *system_prompt_file;
	char *approval;
	char *author_name;
	char *author_email;
	char *config_dir;	/* agentd's config dir: the global AGENTS.md lives there */
	json_t *project_doc_fallbacks;	/* array of file names or NULL */
	json_t *hooks;		/* the user's hooks (checked) or NULL */
	json_t *mcp_servers;	/* the user's "mcp_servers" (checked) or NULL */
	char *file_model;	/* "model" and "api_key" of the file, for endpoints without one */
	char *file_api_key;
};

/* Command-line values (NULL/-1 = not given). */
struct config_flags {
	const char *config_file;
	const char *socket_path;
	const char *state_dir;
	const char *log_level;
	const char *llm_url;
	const char *model;
	int no_stream;
};

/* Build the whole configuration. Errors name the file, line and column. */
int config_load(const struct config_flags *flags, struct config *out, struct agentd_error *err);
void config_free(struct config *c);

/* The machine-wide file read before the user's: $AGENTD_SYSTEM_CONFIG when
 * set (empty = none), else SYSCONFDIR/agentd/config.json when it exists
 * (/etc/agentd/config.json for a build configured with --sysconfdir=/etc).
 * Fills buf and returns it, or NULL when there is none. */
const char *config_system_path(char *buf, size_t len);
/* A JSON summary for daemon.status (no secrets). New reference. */
json_t *config_summary(const struct config *c);

#endif
