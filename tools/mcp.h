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
#include <stdint.h>
#include <sys/types.h>
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
/* The names of a server's listed tools, in order (new reference; NULL: out
 * of memory): mcp_tool_name, except that when two raw names give one name,
 * the bytewise smallest keeps it and the others end with the hash, however
 * the server orders its list. */
json_t *mcp_tool_names(const char *server, const json_t *tools);

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


/* Hooks for one client (ud borrowed; any may be NULL). on_note sees every
 * notification the server sends while a request waits (tools/list_changed,
 * progress, log messages); with it set, tools/call asks for progress
 * (_meta.progressToken = the request's id). When cancelled() returns non-zero
 * during a request, notifications/cancelled is sent for it and the request
 * ends with AGENTD_ECANCELLED. */
void mcp_client_set_hooks(struct mcp_client *c, void (*on_note)(void *ud, const json_t *msg),
    int (*cancelled)(void *ud), void *ud);
/* Handle what a stdio server wrote since the last request (notifications
 * such as tools/list_changed go to the hooks), without waiting. An error
 * when it closed its output or wrote garbage. Over HTTP: nothing (messages
 * outside a request would need the GET stream). */
int mcp_client_poll(struct mcp_client *c, struct agentd_error *err);
/* The server's process id (0 when it was reaped). */
pid_t mcp_client_pid(const struct mcp_client *c);

/*
 * The live servers of this process (mcp_servers.c): one instance per
 * (stdio server, workspace) — it runs in that workspace's sandbox — and one
 * per url server for all workspaces; started on first use, shared by every
 * run and call there, started again after a death (backoff 0, 1, 2, 4 s;
 * after 5 failures in a row "failed" until a reload). Thread-safe.
 */
struct tool_ctx;
struct tool_entry;

/* Turns a server's configuration into what is started for `workspace` (the
 * daemon wraps the command in its sandbox). *out: new reference. */
typedef int (*mcp_wrap_fn)(const char *name, const json_t *cfg, const char *workspace,
    void *ud, json_t **out, struct agentd_error *err);

/* Where servers' stderr goes (-1: dropped) and how commands are wrapped
 * (NULL: started as configured). Call before the first use. */
void mcp_servers_init(int log_fd, mcp_wrap_fn wrap, void *ud);
/* Take a new "mcp_servers" object (checked here; NULL = none): instances of
 * changed or removed servers stop (off this thread), new ones start on first
 * use. *changes (may be NULL): {"added","removed","changed": [names],
 * "stopped": [{name, workspace}]}, new reference. */
int mcp_servers_configure(const json_t *servers, json_t **changes, struct agentd_error *err);
/* AGENTD_ENOTFOUND naming the first name of `only` that is not configured. */
int mcp_servers_check_names(const json_t *only, struct agentd_error *err);
/* The tools of the enabled servers (or of those named in `only`) for
 * `workspace`, starting them as needed: *defs = [{name, description,
 * parameters, server, tool, read_only}], *report (may be NULL) = [{name,
 * state, tools, error?}] — a server that cannot start is reported, not an
 * error. New references. */
int mcp_servers_tools(const char *workspace, const json_t *only, json_t **defs, json_t **report,
    struct agentd_error *err);
/* A number that changes when a running server's tool list changed (after
 * notifications/tools/list_changed): a run that offered the tools offers
 * them again. */
uint64_t mcp_servers_generation(void);
/* The registry entry of a listed mcp__ tool (valid until
 * mcp_servers_shutdown), or NULL. */
const struct tool_entry *mcp_servers_find(const char *name);
/* Validate args against the tool's inputSchema and call it on the instance
 * of ctx->workspace within tool_timeout_s. A tool error (isError), a server
 * that cannot start or dies are ok:false results; AGENTD_EINVAL for bad
 * arguments, AGENTD_ECANCELLED when ctx->cancelled fired
 * (notifications/cancelled sent). */
int mcp_servers_call(const struct tool_ctx *ctx, const char *name, json_t *args,
    json_t **result, struct agentd_error *err);
/* [{name, transport, enabled, approve, state, tools, starts, error,
 * workspace?}]: one row per instance, or one "stopped" row for a server
 * with none. New reference. */
json_t *mcp_servers_status(void);
/* Start server `name` afresh for `workspace` (not the shared instance), list
 * its tools and stop it: *out = {name, tools: [{name, tool, description,
 * inputSchema, annotations}]}. The error says why it could not start. */
int mcp_servers_test(const char *name, const char *workspace, json_t **out,
    struct agentd_error *err);
/* Stop every instance and forget the entries (no call may be running). */
void mcp_servers_shutdown(void);

#endif
