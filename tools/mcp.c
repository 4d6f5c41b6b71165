/*
 * mcp.c — the MCP client: configuration checks, tool naming, and the stdio
 * transport (one child process, newline-delimited JSON-RPC 2.0).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "tools/mcp.h"
#include "common/json.h"

struct mcp_key {
	const char *name;
	json_type type;		/* JSON_TRUE = boolean, JSON_REAL = number, JSON_NULL = array of strings */
};

static const struct mcp_key mcp_keys[] = {
	{ "command", JSON_STRING }, { "args", JSON_NULL }, { "env", JSON_OBJECT },
	{ "cwd", JSON_STRING }, { "startup_timeout_s", JSON_REAL }, { "tool_timeout_s", JSON_REAL },
	{ "enabled", JSON_TRUE }, { "enabled_tools", JSON_NULL }, { "disabled_tools", JSON_NULL },
	{ "url", JSON_STRING }, { "bearer_token_env", JSON_STRING }, { "network", JSON_TRUE },
	{ "approve", JSON_STRING }, { NULL, JSON_NULL }
};

static int
str_array(const json_t *v)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return 0;
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return 0;
	return 1;
}

int
mcp_config_check(const json_t *servers, struct agentd_error *err)
{
	const char *name, *key;
	json_t *s, *v, *e;
	const struct mcp_key *k;
	int ok;

	if (!json_is_object(servers))
		return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers must be an object");
	json_object_foreach((json_t *)servers, name, s) {
		if (!json_is_object(s))
			return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers.%s must be an object", name);
		if (*name == '\0' || strlen(name) > 32)
			return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers: names are 1..32 bytes");
		json_object_foreach(s, key, v) {
			for (k = mcp_keys; k->name; k++)
				if (strcmp(k->name, key) == 0)
					break;
			if (k->name == NULL)
				return agentd_seterr(err, AGENTD_EINVAL, "unknown key mcp_servers.%s.%s",
				    name, key);
			switch (k->type) {
			case JSON_STRING: ok = json_is_string(v); break;
			case JSON_TRUE: ok = json_is_boolean(v); break;
			case JSON_REAL: ok = json_is_number(v) && json_number_value(v) > 0; break;
			case JSON_OBJECT:
				ok = json_is_object(v);
				if (ok) {
					const char *ek;
					json_object_foreach(v, ek, e)
						if (!json_is_string(e))
							ok = 0;
				}
				break;
			default: ok = str_array(v); break;
			}
			if (!ok)
				return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers.%s.%s has the wrong type",
				    name, key);
		}
		if (!json_object_get(s, "command") == !json_object_get(s, "url"))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "mcp_servers.%s needs exactly one of \"command\" or \"url\"", name);
		if ((v = json_object_get(s, "approve")) && strcmp(json_string_value(v), "never") &&
		    strcmp(json_string_value(v), "always"))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "mcp_servers.%s.approve must be \"never\" or \"always\"", name);
	}
	return AGENTD_OK;
}

static void
sanitize(const char *in, char *out, size_t n)
{
	size_t i;

	for (i = 0; in[i] && i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		out[i] = ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-') ? (char)ch : '_';
	}
	out[i] = '\0';
}

void
mcp_tool_name(const char *server, const char *tool, char out[MCP_NAME_MAX + 1])
{
	char full[1024];
	char s[256], t[700];
	uint32_t h = 2166136261u;	/* FNV-1a of the raw names: stable across runs */
	const char *p;

	sanitize(server, s, sizeof(s) - 1);
	sanitize(tool, t, sizeof(t) - 1);
	snprintf(full, sizeof(full), "mcp__%s__%s", s, t);
	if (strlen(full) <= MCP_NAME_MAX) {
		memcpy(out, full, strlen(full) + 1);
		return;
	}
	for (p = server; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ 0) * 16777619u;
	for (p = tool; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(out, MCP_NAME_MAX + 1, "%.*s_%08x", MCP_NAME_MAX - 9, full, (unsigned)h);
}
