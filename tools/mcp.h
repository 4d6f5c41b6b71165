/*
 * mcp.h — agentd's Model Context Protocol client: the configuration of MCP
 * servers (config.json "mcp_servers"), the model-visible names of their
 * tools, and a stdio client (newline-delimited JSON-RPC 2.0 with a child).
 * It knows no socket and no journal: callers hand it a config object and get
 * JSON back.
 */
#ifndef AGENTD_MCP_H
#define AGENTD_MCP_H

#include <stddef.h>
#include <jansson.h>
#include "common/error.h"

#define MCP_PROTOCOL_VERSION "2025-11-25"	/* offered in initialize */
#define MCP_PROTOCOL_MODERN "2026-07-28"	/* per-request _meta, probed with server/discover */
#define MCP_NAME_MAX 64				/* model-visible tool name, bytes */
#define MCP_LINE_MAX (4u << 20)			/* one stdout line from a server */
#define MCP_STDERR_MAX (64u << 10)		/* stderr bytes forwarded per server */

/* Check the whole "mcp_servers" object: known keys and their types. Errors
 * name the key as mcp_servers.NAME.key. */
int mcp_config_check(const json_t *servers, struct agentd_error *err);

/* "mcp__SERVER__TOOL" with characters outside [A-Za-z0-9_-] replaced by '_',
 * cut to MCP_NAME_MAX with a stable 8-hex-digit hash when longer.
 * out must hold MCP_NAME_MAX + 1 bytes. */
void mcp_tool_name(const char *server, const char *tool, char out[MCP_NAME_MAX + 1]);

struct mcp_client;

/* Start the server NAME described by cfg (one entry of mcp_servers): run
 * its command (stdio) or reach its url (Streamable HTTP), then settle the
 * protocol within startup_timeout_s: server/discover for 2026-07-28, else the
 * initialize handshake (2025-11-25, 2025-06-18, 2025-03-26). stderr_fd
 * receives a stdio server's stderr (-1 drops it). */
int mcp_client_start(const char *name, const json_t *cfg, int stderr_fd,
    struct mcp_client **out, struct agentd_error *err);
/* All tools (tools/list, following nextCursor), filtered by enabled_tools /
 * disabled_tools. New reference: array of tool objects. */
int mcp_client_list_tools(struct mcp_client *c, json_t **out, struct agentd_error *err);
/* tools/call within tool_timeout_s: *text (malloc'd, at most cap bytes) joins
 * the text content, marks images/resources, else structuredContent as JSON;
 * *is_error from isError. */
int mcp_client_call(struct mcp_client *c, const char *tool, json_t *args, size_t cap,
    char **text, int *is_error, struct agentd_error *err);
/* Close stdin, then SIGTERM, then SIGKILL, a second apart; reap. A url
 * server's session is DELETEd. NULL ok. */
void mcp_client_free(struct mcp_client *c);
/* The protocol version in use, e.g. "2025-06-18" or "2026-07-28" (borrowed). */
const char *mcp_client_protocol(const struct mcp_client *c);

#endif
