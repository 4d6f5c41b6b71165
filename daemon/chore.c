/*
 * chore.c — load and validate chore files (a repeatable task in JSON).
 *
 * Only the shape is checked here: tool names must look like tool names, but
 * whether each one exists is for the daemon, which owns the tool registry.
 */
#include "daemon/chore.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "daemon/cron.h"

#define CHORE_MAX_FILE (256 * 1024)
#define CHORE_MAX_PROMPT (64 * 1024)
#define CHORE_MAX_TOOLS 64
#define CHORE_MAX_NAME 64

static const char *const chore_keys[] = { "name", "description", "prompt", "tools",
	"policy", "network", "limits", "branch", "schedule", "tz", "skills", "mcp", NULL };
static const char *const limit_keys[] = { "max_steps", "max_wall_s", "max_tokens", NULL };

static int
in_list(const char *const *list, const char *s)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

/* Letters, digits, '_' and '-' (and '.' inside); not empty, bounded. */
static int
is_plain_name(const char *s, size_t max, int allow_dot)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > max || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!isalnum(ch) && ch != '_' && ch != '-' && !(allow_dot && ch == '.'))
			return 0;
	}
	return 1;
}

/* A branch name git would take, conservatively: [A-Za-z0-9._/-], no "..",
 * no leading '-' or '/', no trailing '/' or ".lock". */
static int
is_branch_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 200 || s[0] == '-' || s[0] == '/' || s[n - 1] == '/' ||
	    s[n - 1] == '.' || strstr(s, "..") != NULL || strstr(s, "//") != NULL ||
	    strstr(s, "/.") != NULL || s[0] == '.' ||
	    (n >= 5 && strcmp(s + n - 5, ".lock") == 0))
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!isalnum(ch) && ch != '_' && ch != '-' && ch != '.' && ch != '/')
			return 0;
	}
	return 1;
}

static int
check_tools(const json_t *tools, struct agentd_error *err)
{
	size_t i, j;
	json_t *t;

	if (!json_is_array(tools))
		return agentd_seterr(err, AGENTD_EINVAL,
		    "'tools' must be an array of tool names");
	if (json_array_size(tools) > CHORE_MAX_TOOLS)
		return agentd_seterr(err, AGENTD_EINVAL, "'tools' lists more than %d tools",
		    CHORE_MAX_TOOLS);
	json_array_foreach(tools, i, t) {
		const char *name = json_string_value(t);
		size_t k, n;

		if (name == NULL)
			return agentd_seterr(err, AGENTD_EINVAL, "'tools'[%zu] must be a string", i);
		n = strlen(name);
		if (n == 0 || n > CHORE_MAX_NAME || !islower((unsigned char)name[0]))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "'tools'[%zu]: '%.64s' is not a tool name", i, name);
		for (k = 0; k < n; k++) {
			unsigned char ch = (unsigned char)name[k];

			if (!islower(ch) && !isdigit(ch) && ch != '_')
				return agentd_seterr(err, AGENTD_EINVAL,
				    "'tools'[%zu]: '%.64s' is not a tool name", i, name);
		}
		for (j = 0; j < i; j++)
			if (strcmp(json_string_value(json_array_get(tools, j)), name) == 0)
				return agentd_seterr(err, AGENTD_EINVAL,
				    "'tools' lists '%s' twice", name);
	}
	return AGENTD_OK;
}

static int
check_limits(const json_t *limits, struct agentd_error *err)
{
	const char *key;
	json_t *v;

	if (!json_is_object(limits))
		return agentd_seterr(err, AGENTD_EINVAL,
		    "'limits' must be an object {max_steps, max_wall_s, max_tokens}");
	json_object_foreach((json_t *)limits, key, v) {
		if (!in_list(limit_keys, key))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "'limits': unknown field '%.64s' (known: max_steps, max_wall_s, "
			    "max_tokens)", key);
		if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
		    json_integer_value(v) > 1000000000)
			return agentd_seterr(err, AGENTD_EINVAL,
			    "'limits'.%s must be a positive integer", key);
	}
	return AGENTD_OK;
}

int
chore_validate(const json_t *chore, struct agentd_error *err)
{
	const char *key, *s;
	json_t *v;
	int rc;

	if (!json_is_object(chore))
		return agentd_seterr(err, AGENTD_EINVAL, "a chore must be a JSON object");
	json_object_foreach((json_t *)chore, key, v) {
		if (!in_list(chore_keys, key))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "unknown field '%.64s' (known: name, description, prompt, tools, "
			    "policy, network, limits, branch, schedule, tz, skills)", key);
	}
	v = json_object_get(chore, "prompt");
	if (v == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "'prompt' is required");
	if (!json_is_string(v) || json_string_length(v) == 0)
		return agentd_seterr(err, AGENTD_EINVAL, "'prompt' must be a non-empty string");
	if (json_string_length(v) > CHORE_MAX_PROMPT)
		return agentd_seterr(err, AGENTD_EINVAL, "'prompt' is longer than %d bytes",
		    CHORE_MAX_PROMPT);
	if ((rc = ajson_opt_str(chore, "name", &s, err)) == AGENTD_OK) {
		if (!is_plain_name(s, CHORE_MAX_NAME, 1))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "'name' must be 1-%d letters, digits, '.', '_' or '-'", CHORE_MAX_NAME);
	} else if (rc != AGENTD_ENOTFOUND)
		return rc;
	if ((rc = ajson_opt_str(chore, "description", &s, err)) == AGENTD_OK) {
		if (strlen(s) > 4096)
			return agentd_seterr(err, AGENTD_EINVAL, "'description' is too long");
	} else if (rc != AGENTD_ENOTFOUND)
		return rc;
	v = json_object_get(chore, "tools");
	if (v != NULL && !json_is_null(v) && (rc = check_tools(v, err)) != AGENTD_OK)
		return rc;
	if ((v = json_object_get(chore, "mcp")) != NULL) {	/* MCP server names */
		size_t k;
		json_t *e;

		if (!json_is_array(v) || json_array_size(v) > CHORE_MAX_TOOLS)
			return agentd_seterr(err, AGENTD_EINVAL, "'mcp' must be an array of at most %d "
			    "MCP server names", CHORE_MAX_TOOLS);
		json_array_foreach(v, k, e)
			if (!json_is_string(e) || json_string_length(e) == 0 || json_string_length(e) > 32)
				return agentd_seterr(err, AGENTD_EINVAL, "'mcp'[%zu] must be an MCP server "
				    "name (1..32 bytes)", k);
	}
	if ((rc = ajson_opt_str(chore, "policy", &s, err)) == AGENTD_OK) {
		if (strcmp(s, "read-only") != 0 && strcmp(s, "workspace-write") != 0 &&
		    strcmp(s, "full-access") != 0)
			return agentd_seterr(err, AGENTD_EINVAL,
			    "'policy' must be read-only, workspace-write or full-access, not '%.64s'",
			    s);
	} else if (rc != AGENTD_ENOTFOUND)
		return rc;
	{
		int b;

		rc = ajson_opt_bool(chore, "network", &b, err);
		if (rc != AGENTD_OK && rc != AGENTD_ENOTFOUND)
			return rc;
	}
	v = json_object_get(chore, "limits");
	if (v != NULL && !json_is_null(v) && (rc = check_limits(v, err)) != AGENTD_OK)
		return rc;
	v = json_object_get(chore, "skills");
	if (v != NULL && !json_is_null(v)) {
		size_t i;
		json_t *n;

		if (!json_is_array(v) || json_array_size(v) > 16)
			return agentd_seterr(err, AGENTD_EINVAL, "'skills' must be an array of at "
			    "most 16 skill names");
		json_array_foreach(v, i, n)
			if (!json_is_string(n) || !is_plain_name(json_string_value(n), 64, 0))
				return agentd_seterr(err, AGENTD_EINVAL, "'skills'[%zu] must be a "
				    "skill name (lowercase letters, digits and hyphens)", i);
	}
	v = json_object_get(chore, "branch");
	if (v != NULL && !json_is_null(v) && !json_is_boolean(v)) {
		if (!json_is_string(v))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "'branch' must be true, false or a branch name");
		if (!is_branch_name(json_string_value(v)))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "'branch': '%.64s' is not a valid branch name", json_string_value(v));
	}
	if ((rc = ajson_opt_str(chore, "schedule", &s, err)) == AGENTD_OK) {
		struct cron_expr *c = NULL;
		struct agentd_error cerr = { 0 };

		if (cron_parse(s, &c, &cerr) != AGENTD_OK)
			return agentd_seterr(err, AGENTD_EINVAL, "'schedule': %s", cerr.msg);
		cron_free(c);
	} else if (rc != AGENTD_ENOTFOUND)
		return rc;
	if ((rc = ajson_opt_str(chore, "tz", &s, err)) == AGENTD_OK) {
		struct agentd_error terr = { 0 };

		if (cron_check_tz(s, &terr) != AGENTD_OK)
			return agentd_seterr(err, AGENTD_EINVAL, "'tz': %s", terr.msg);
	} else if (rc != AGENTD_ENOTFOUND)
		return rc;
	return AGENTD_OK;
}

/* Read a whole file of at most CHORE_MAX_FILE bytes. */
static int
read_file(const char *path, char **out, size_t *len, struct agentd_error *err)
{
	struct stat st;
	char *buf;
	size_t n = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return agentd_seterr(err, errno == ENOENT ? AGENTD_ENOTFOUND : AGENTD_EIO,
		    "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return agentd_seterr(err, AGENTD_EINVAL, "%s: not a regular file", path);
	}
	if (st.st_size > CHORE_MAX_FILE) {
		close(fd);
		return agentd_seterr(err, AGENTD_ETOOBIG, "%s: larger than %d bytes", path,
		    CHORE_MAX_FILE);
	}
	buf = malloc(CHORE_MAX_FILE + 1);
	if (buf == NULL) {
		close(fd);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	while (n <= CHORE_MAX_FILE) {
		r = read(fd, buf + n, CHORE_MAX_FILE + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			close(fd);
			free(buf);
			return agentd_seterr(err, AGENTD_EIO, "%s: %s", path, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > CHORE_MAX_FILE) {
		free(buf);
		return agentd_seterr(err, AGENTD_ETOOBIG, "%s: larger than %d bytes", path,
		    CHORE_MAX_FILE);
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return AGENTD_OK;
}

/*
 * A bare chore name, looked up where chores live, first found wins: the
 * repository's own (WORKSPACE/.agentd/chores), the user's
 * ($XDG_CONFIG_HOME/agentd/chores), then the shipped ones in each of
 * $XDG_DATA_DIRS/agentd/chores and the installed PKGDATADIR/chores.
 */
static int
find_named(const char *name, int n, const char *workspace, char *out, size_t outlen,
    struct agentd_error *err)
{
	const char *xdg_cfg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	const char *dirs = getenv("XDG_DATA_DIRS"), *p, *end;
	char cand[4096], tried[1024] = "";
	size_t tl = 0;
	struct stat st;
	int i;

	for (i = 0; ; i++) {
		cand[0] = '\0';
		if (i == 0)
			snprintf(cand, sizeof(cand), "%s/.agentd/chores", workspace);
		else if (i == 1 && xdg_cfg && xdg_cfg[0] == '/')
			snprintf(cand, sizeof(cand), "%s/agentd/chores", xdg_cfg);
		else if (i == 1 && home && home[0] == '/')
			snprintf(cand, sizeof(cand), "%s/.config/agentd/chores", home);
		else if (i == 2)
			snprintf(cand, sizeof(cand), "%s/chores", AGENTD_DATADIR);
		else if (i >= 3) {
			/* the (i-3)th entry of XDG_DATA_DIRS */
			int k = i - 3;

			if (dirs == NULL || *dirs == '\0')
				break;
			for (p = dirs; k > 0 && p; k--)
				p = (p = strchr(p, ':')) ? p + 1 : NULL;
			if (p == NULL)
				break;
			end = strchr(p, ':');
			if (end == NULL)
				end = p + strlen(p);
			if (*p != '/' || end - p > 2048)
				continue;
			snprintf(cand, sizeof(cand), "%.*s/agentd/chores", (int)(end - p), p);
		}
		if (cand[0] == '\0')
			continue;
		if (tl < sizeof(tried) - 1)
			tl += (size_t)snprintf(tried + tl, sizeof(tried) - tl, "%s%s", tl ? ", " : "", cand);
		if (strlen(cand) + (size_t)n + 7 >= sizeof(cand))
			continue;
		snprintf(cand + strlen(cand), sizeof(cand) - strlen(cand), "/%.*s.json", n, name);
		if (stat(cand, &st) == 0) {
			if (strlen(cand) >= outlen)
				return agentd_seterr(err, AGENTD_EINVAL, "chore path too long");
			memcpy(out, cand, strlen(cand) + 1);
			return AGENTD_OK;
		}
	}
	if (tl >= sizeof(tried) - 1)
		memcpy(tried + sizeof(tried) - 4, "...", 4);
	return agentd_seterr(err, AGENTD_ENOTFOUND, "no chore named '%.*s' (looked in %s)", n, name, tried);
}

int
chore_load(const char *path, const char *workspace, json_t **out, struct agentd_error *err)
{
	char full[4096], base[CHORE_MAX_NAME + 1], *text = NULL;
	const char *file = path, *slash;
	struct agentd_error e = { 0 };
	size_t len = 0, bl;
	json_t *chore;
	int rc;

	if (path == NULL || path[0] == '\0')
		return agentd_seterr(err, AGENTD_EINVAL, "no chore file given");
	if (strchr(path, '/') == NULL) {
		size_t n = strlen(path);

		if (n > 5 && strcmp(path + n - 5, ".json") == 0)
			n -= 5;
		if (n > CHORE_MAX_NAME || !is_plain_name(path, CHORE_MAX_NAME + 5, 1))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "'%.64s' is not a chore name (letters, digits, '.', '_', '-')", path);
		if (workspace == NULL || workspace[0] != '/')
			return agentd_seterr(err, AGENTD_EINVAL,
			    "chore '%s': a bare chore name needs an absolute workspace "
			    "(looked up in WORKSPACE/.agentd/chores/)", path);
		if ((rc = find_named(path, (int)n, workspace, full, sizeof(full), err)) != AGENTD_OK)
			return rc;
		file = full;
	}
	rc = read_file(file, &text, &len, err);
	if (rc)
		return rc;
	chore = ajson_loads(text, len, &e);
	free(text);
	if (chore == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "%s: %s", file, e.msg);
	rc = chore_validate(chore, &e);
	if (rc) {
		json_decref(chore);
		return agentd_seterr(err, rc, "%s: %s", file, e.msg);
	}
	/* A chore without a name is named after its file. */
	if (json_object_get(chore, "name") == NULL) {
		slash = strrchr(file, '/');
		slash = slash ? slash + 1 : file;
		bl = strlen(slash);
		if (bl > 5 && strcmp(slash + bl - 5, ".json") == 0)
			bl -= 5;
		if (bl > CHORE_MAX_NAME)
			bl = CHORE_MAX_NAME;
		memcpy(base, slash, bl);
		base[bl] = '\0';
		if (is_plain_name(base, CHORE_MAX_NAME, 1) &&
		    json_object_set_new(chore, "name", json_string(base)) != 0) {
			json_decref(chore);
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		}
	}
	*out = chore;
	return AGENTD_OK;
}
