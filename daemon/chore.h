/*
 * chore.h — chores: a JSON file describing a repeatable task.
 *
 * {"name", "description"?, "prompt" (required), "tools"? [allowed tool names],
 *  "policy"? read-only|workspace-write|full-access, "network"? bool,
 *  "limits"? {"max_steps","max_wall_s","max_tokens"}, "branch"? bool|string,
 *  "schedule"? cron expression, "tz"?}
 * Loaded by agentctl (run --chore, schedule add --chore) and the daemon;
 * a repository may carry its own in .agentd/chores/NAME.json.
 */
#ifndef AGENTD_CHORE_H
#define AGENTD_CHORE_H

#include <jansson.h>
#include "common/error.h"

/* Validate a chore object; AGENTD_EINVAL naming the field. */
int chore_validate(const json_t *chore, struct agentd_error *err);
/* Load and validate a chore file; new reference. Errors name the file, line
 * and column. A bare NAME (no '/') is looked up as NAME.json in, first found
 * wins: workspace/.agentd/chores, $XDG_CONFIG_HOME/agentd/chores (else
 * ~/.config/agentd/chores), the installed PKGDATADIR/chores, then each
 * $XDG_DATA_DIRS entry's agentd/chores. */
int chore_load(const char *path, const char *workspace, json_t **out, struct agentd_error *err);

#endif
