/*
 * mcp.h — agentd's Model Context Protocol client: the configuration of MCP
 * servers (config.json "mcp_servers") and the model-visible names of their
 * tools; the stdio client is not built yet.
 * It knows no socket and no journal: callers hand it a config object and get
 * JSON back.
 */
#ifndef AGENTD_MCP_H
#define AGENTD_MCP_H

#include <stddef.h>
#include <jansson.h>
#include "common/error.h"

#define MCP_PROTOCOL_VERSION "2025-06-18"	/* offered in initialize */
#define MCP_NAME_MAX 64				/* model-visible tool name, bytes */
#define MCP_LINE_MAX (4u << 20)			/* one stdout line from a server */

/* Check the whole "mcp_servers" object: known keys and their types. Errors
 * name the key as mcp_servers.NAME.key. */
int mcp_config_check(const json_t *servers, struct agentd_error *err);

/* "mcp__SERVER__TOOL" with characters outside [A-Za-z0-9_-] replaced by '_',
 * cut to MCP_NAME_MAX with a stable 8-hex-digit hash when longer.
 * out must hold MCP_NAME_MAX + 1 bytes. */
void mcp_tool_name(const char *server, const char *tool, char out[MCP_NAME_MAX + 1]);

/* The stdio client (start, initialize, tools/list, tools/call, shutdown) is
 * not built yet: see docs/mcp.md. */

#endif
