/*
 * internal.h — what the files of tools/ share and nobody else sees:
 * path confinement, result helpers, and every tool's exec function.
 */
#ifndef AGENTD_TOOLS_INTERNAL_H
#define AGENTD_TOOLS_INTERNAL_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include "tools/tools.h"

#define TOOLS_DEFAULT_OUTPUT_CAP	(32u * 1024u)
#define TOOLS_PATH_MAX			4000	/* longest relative path accepted */

/* ---- path.c: confinement to the workspace ---- */

/*
 * Turn a path given by the model into a clean path relative to the
 * workspace ("." for the workspace itself): absolute paths inside the
 * workspace are made relative, "." and empty components dropped, ".."
 * resolved lexically. Refuses (AGENTD_EDENIED, message for the model) paths
 * that leave the workspace, contain NUL (len != strlen) or are too long;
 * AGENTD_EINVAL for an empty path. *rel is malloc'd.
 */
int tpath_clean(const char *workspace, const char *path, size_t len, char **rel,
    struct agentd_error *err);

/*
 * Open rel (already clean) beneath the workspace: openat2 with
 * RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS (or an O_NOFOLLOW walk where openat2
 * is missing). Symlinks that stay inside are followed. `shown` is the path
 * as the model wrote it, for messages. Escapes give AGENTD_EDENIED; a missing
 * file AGENTD_ENOTFOUND; other failures AGENTD_EIO.
 */
int tpath_open(const char *workspace, const char *rel, int flags, mode_t mode, int *fd,
    const char *shown, struct agentd_error *err);
/* The same relative to an already confined directory fd (for one component). */
int tpath_openat(int dirfd, const char *name, int flags, mode_t mode, int *fd,
    const char *shown, struct agentd_error *err);

/*
 * Open (O_PATH|O_DIRECTORY) the parent folder of rel, every step confined.
 * *base points into rel at the last component. `create` is for writing:
 * missing folders are made one by one, and each new folder and the final
 * entry must pass tpath_check_git (AGENTD_EDENIED otherwise, nothing made).
 */

/*
 * May a file tool create, replace or remove the entry `name` (NULL: only the
 * folder) of the folder dirfd? Refused (AGENTD_EDENIED, a message for the
 * model) when name is a spelling of ".git" (case, trailing dots or spaces,
 * GIT~1, HFS+-ignored code points), when a component of the folder's real
 * path (as the kernel resolved it) is one, or when the folder or one above
 * it is a git directory by content (HEAD with objects/ and refs/, or a
 * worktree's commondir).
 */
int tpath_check_git(int dirfd, const char *name, const char *shown, struct agentd_error *err);
int tpath_open_parent(const char *workspace, const char *rel, int create, int *dirfd,
    const char **base, const char *shown, struct agentd_error *err);

/*
 * Path of an open fd relative to the workspace (for files reached through
 * an in-workspace symlink). malloc'd; AGENTD_EDENIED when it is not inside.
 */
int tpath_fd_rel(const char *workspace, int fd, char **rel, const char *shown,
    struct agentd_error *err);

/* Message used for every escape, so the model sees one wording. */
int tpath_refuse(struct agentd_error *err, const char *shown, const char *why);

/* Read a JSON string argument that is a path (may contain NUL → refused later). */
const char *tpath_arg(json_t *args, const char *key, size_t *len);

/* ---- registry.c helpers ---- */

/* {"ok":false,"output":msg,"error":msg} from an agentd_error; new reference. */
json_t *tools_fail(const struct agentd_error *err);
/* ok:false with printf text; new reference (NULL on ENOMEM). */
json_t *tools_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
size_t tools_cap(const struct tool_ctx *ctx);
int tools_is_cancelled(const struct tool_ctx *ctx);

/* Does the buffer look like text (no NUL, valid UTF-8 except a cut tail)? */
int tools_looks_text(const char *p, size_t n);

/* ---- the tools ---- */

#define TOOL_EXEC(fn) int fn(const struct tool_ctx *ctx, json_t *args, json_t **result, \
    struct agentd_error *err)

TOOL_EXEC(tool_read_file);
TOOL_EXEC(tool_write_file);
TOOL_EXEC(tool_edit_file);
TOOL_EXEC(tool_list_dir);
TOOL_EXEC(tool_grep);
TOOL_EXEC(tool_git_status);
TOOL_EXEC(tool_git_diff);
TOOL_EXEC(tool_git_log);
TOOL_EXEC(tool_git_show);
TOOL_EXEC(tool_git_add);
TOOL_EXEC(tool_git_commit);
TOOL_EXEC(tool_git_branch);
TOOL_EXEC(tool_git_checkout);
TOOL_EXEC(tool_git_restore);
TOOL_EXEC(tool_shell);

#endif
