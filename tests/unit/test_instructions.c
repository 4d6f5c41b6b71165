/*
 * test_instructions.c — what a repository tells the model beside the task,
 * on real folders and a real `git init`:
 *  - instructions (AGENTS.md): each rule of the discovery order (global
 *    file, root down to the workspace, one file per folder, override before
 *    AGENTS.md before fallbacks, empty files skipped), the cap with its
 *    marker, and the files never read (symbolic links, folders, FIFOs);
 *  - skills (SKILL.md folders): where they are found and which wins, the
 *    front matter's rules and every refusal with its reason, the catalog
 *    within its budget, a skill's body and files, and paths that escape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/agent.h"
#include "common/json.h"
#include "tests/unit/helpers.h"

struct fx {
	char dir[64];		/* the test's temporary folder */
	char repo[128];		/* dir/repo, a git repository */
	char global[128];	/* dir/cfg, agentd's config dir */
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/agentd-instr.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->repo, sizeof(f->repo), "%s/repo", f->dir);
	snprintf(f->global, sizeof(f->global), "%s/cfg", f->dir);
	sh("mkdir -p %s/sub/deeper %s && git init -q %s", f->repo, f->global, f->repo);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	sh("rm -rf %s", f->dir);
	free(f);
	return 0;
}

/* Load for `ws` (relative to the repo); returns the text ("" when none). */
static char *
load(struct fx *f, const char *ws, const char *global, size_t cap, const char *fallbacks,
    json_t **files)
{
	char path[256];
	struct agentd_error err = { 0 };
	json_t *fb = fallbacks ? json_loads(fallbacks, 0, NULL) : NULL, *fl = NULL;
	char *text = NULL;

	snprintf(path, sizeof(path), "%s/%s", f->repo, ws);
	if (agent_instructions_load(global, path, cap, fb, &text, &fl, &err) != AGENTD_OK)
		fail_msg("agent_instructions_load: %s", err.msg);
	json_decref(fb);
	assert_non_null(fl);
	if (files)
		*files = fl;
	else
		json_decref(fl);
	return text ? text : strdup("");
}

/* Does `hay` hold a before b (both present)? */
static int
in_order(const char *hay, const char *a, const char *b)
{
	const char *pa = strstr(hay, a), *pb = strstr(hay, b);

	return pa != NULL && pb != NULL && pa < pb;
}

static void
test_root_then_deeper(void **state)
{
	struct fx *f = *state;
	json_t *files = NULL;
	char *t;

	put(f->repo, "AGENTS.md", "ROOT-RULE\n");
	put(f->repo, "sub/AGENTS.md", "SUB-RULE\n");
	put(f->repo, "sub/deeper/AGENTS.md", "DEEP-RULE\n");
	t = load(f, "sub", NULL, 32768, NULL, &files);
	assert_true(in_order(t, "ROOT-RULE", "SUB-RULE"));
	assert_null(strstr(t, "DEEP-RULE"));	/* below the workspace: not read */
	assert_non_null(strstr(t, "## AGENTS.md\n"));
	assert_non_null(strstr(t, "## sub/AGENTS.md\n"));
	assert_int_equal(json_array_size(json_object_get(files, "files")), 2);
	json_decref(files);
	free(t);
	t = load(f, "sub/deeper", NULL, 32768, NULL, NULL);
	assert_true(in_order(t, "ROOT-RULE", "SUB-RULE"));
	assert_true(in_order(t, "SUB-RULE", "DEEP-RULE"));
	free(t);
}

static void
test_global_first_override_wins(void **state)
{
	struct fx *f = *state;
	char *t;

	put(f->global, "AGENTS.md", "GLOBAL-PLAIN\n");
	put(f->repo, "AGENTS.md", "ROOT-RULE\n");
	t = load(f, "sub", f->global, 32768, NULL, NULL);
	assert_true(in_order(t, "GLOBAL-PLAIN", "ROOT-RULE"));
	free(t);
	put(f->global, "AGENTS.override.md", "GLOBAL-OVERRIDE\n");
	t = load(f, "sub", f->global, 32768, NULL, NULL);
	assert_true(in_order(t, "GLOBAL-OVERRIDE", "ROOT-RULE"));
	assert_null(strstr(t, "GLOBAL-PLAIN"));
	free(t);
}

static void
test_one_file_per_folder(void **state)
{
	struct fx *f = *state;
	json_t *files = NULL;
	char *t;

	put(f->repo, "sub/AGENTS.override.md", "SUB-OVERRIDE\n");
	put(f->repo, "sub/AGENTS.md", "SUB-PLAIN\n");
	put(f->repo, "sub/CLAUDE.md", "SUB-CLAUDE\n");
	put(f->repo, "CLAUDE.md", "ROOT-CLAUDE\n");
	t = load(f, "sub", NULL, 32768, "[\"CLAUDE.md\"]", &files);
	/* the root has only CLAUDE.md: the fallback is taken there */
	assert_true(in_order(t, "ROOT-CLAUDE", "SUB-OVERRIDE"));
	assert_null(strstr(t, "SUB-PLAIN"));
	assert_null(strstr(t, "SUB-CLAUDE"));
	assert_int_equal(json_array_size(json_object_get(files, "files")), 2);
	json_decref(files);
	free(t);
	/* without the fallback configured, CLAUDE.md is nobody's */
	t = load(f, "sub", NULL, 32768, NULL, NULL);
	assert_null(strstr(t, "ROOT-CLAUDE"));
	free(t);
}

static void
test_empty_skipped(void **state)
{
	struct fx *f = *state;
	json_t *files = NULL;
	char *t;

	put(f->repo, "AGENTS.override.md", " \n\t\n");
	put(f->repo, "AGENTS.md", "ROOT-RULE\n");
	put(f->repo, "sub/AGENTS.md", "");
	t = load(f, "sub", NULL, 32768, NULL, &files);
	assert_non_null(strstr(t, "ROOT-RULE"));
	assert_null(strstr(t, "sub/AGENTS.md"));
	assert_int_equal(json_array_size(json_object_get(files, "files")), 1);
	json_decref(files);
	free(t);
	/* nothing at all: no text */
	sh("rm -f %s/AGENTS.md", f->repo);
	t = load(f, "sub", NULL, 32768, NULL, NULL);
	assert_string_equal(t, "");
	free(t);
}

static void
test_cap_and_marker(void **state)
{
	struct fx *f = *state;
	json_t *files = NULL, *first;
	char *t, big[600];

	memset(big, 'x', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	put(f->repo, "AGENTS.md", big);
	put(f->repo, "sub/AGENTS.md", "SUB-RULE\n");
	t = load(f, "sub", NULL, 100, NULL, &files);
	assert_non_null(strstr(t, "was cut here"));
	assert_null(strstr(t, "SUB-RULE"));	/* past the cap: not read */
	first = json_array_get(json_object_get(files, "files"), 0);
	assert_int_equal(ajson_int(first, "bytes", 0), 100);
	assert_true(ajson_bool(first, "truncated", 0));
	json_decref(files);
	free(t);
	/* a cap that a multi-byte character straddles does not split it */
	put(f->repo, "AGENTS.md", "ab\xc3\xa9\xc3\xa9\n");
	t = load(f, "", NULL, 3, NULL, NULL);
	assert_non_null(strstr(t, "ab\n[..."));
	free(t);
}

static void
test_never_followed(void **state)
{
	struct fx *f = *state;
	json_t *files = NULL;
	char *t;

	put(f->dir, "secret.txt", "PRIVATE-KEY\n");
	sh("ln -s %s/secret.txt %s/AGENTS.md", f->dir, f->repo);
	sh("mkdir %s/sub/AGENTS.md && mkfifo %s/sub/AGENTS.override.md", f->repo, f->repo);
	t = load(f, "sub", NULL, 32768, NULL, &files);
	assert_null(strstr(t, "PRIVATE-KEY"));
	assert_string_equal(t, "");
	assert_int_equal(json_array_size(json_object_get(files, "skipped")), 3);
	json_decref(files);
	free(t);
}

static void
test_no_repository(void **state)
{
	struct fx *f = *state;
	char plain[160];
	struct agentd_error err = { 0 };
	json_t *files = NULL;
	char *t = NULL;

	/* outside a repository only the workspace's own folder counts */
	snprintf(plain, sizeof(plain), "%s/plain/inner", f->dir);
	sh("mkdir -p %s && echo OUTER > %s/plain/AGENTS.md && echo INNER > %s/AGENTS.md",
	    plain, f->dir, plain);
	assert_int_equal(agent_instructions_load(NULL, plain, 32768, NULL, &t, &files, &err),
	    AGENTD_OK);
	assert_non_null(t);
	assert_non_null(strstr(t, "INNER"));
	assert_null(strstr(t, "OUTER"));
	free(t);
	json_decref(files);
	/* a missing workspace is an error, and the outputs stay untouched */
	t = (char *)"untouched";
	files = NULL;
	assert_int_not_equal(agent_instructions_load(NULL, "/nonexistent/ws", 32768, NULL, &t,
	    &files, &err), AGENTD_OK);
	assert_string_equal(t, "untouched");
	assert_null(files);
}

static void
test_worktree_git_file(void **state)
{
	struct fx *f = *state;
	char wt[160];
	char *t;

	/* a linked worktree has a .git file: its root is the worktree's */
	put(f->repo, "AGENTS.md", "ROOT-RULE\n");
	sh("cd %s && git -c user.name=t -c user.email=t@t add AGENTS.md && "
	    "git -c user.name=t -c user.email=t@t commit -qm i && git worktree add -q %s/wt 2>/dev/null",
	    f->repo, f->dir);
	snprintf(wt, sizeof(wt), "%s/wt", f->dir);
	put(f->dir, "AGENTS.md", "ABOVE-THE-WORKTREE\n");
	{
		struct agentd_error err = { 0 };
		json_t *files = NULL;

		t = NULL;
		assert_int_equal(agent_instructions_load(NULL, wt, 32768, NULL, &t, &files, &err),
		    AGENTD_OK);
		json_decref(files);
	}
	assert_non_null(t);
	assert_non_null(strstr(t, "ROOT-RULE"));
	assert_null(strstr(t, "ABOVE-THE-WORKTREE"));
	free(t);
}


/* ---- skills ---- */

static void
skill(const char *root, const char *name, const char *front, const char *body)
{
	char dir[512], text[8192];

	snprintf(dir, sizeof(dir), "%s/%s", root, name);
	sh("mkdir -p %s", dir);
	snprintf(text, sizeof(text), "---\n%s---\n%s", front, body);
	put(dir, "SKILL.md", text);
}

static json_t *
discover(struct fx *f, const char *ws, json_t **refused)
{
	char path[256];
	struct agentd_error err = { 0 };
	json_t *sk = NULL, *rf = NULL;

	snprintf(path, sizeof(path), "%s/%s", f->repo, ws);
	if (agent_skills_discover(f->global, path, &sk, &rf, &err) != AGENTD_OK)
		fail_msg("agent_skills_discover: %s", err.msg);
	if (refused)
		*refused = rf;
	else
		json_decref(rf);
	return sk;
}

/* The reason given for a refused path ending in `tail`, or NULL. */
static const char *
why_refused(const json_t *refused, const char *tail)
{
	size_t i, n = strlen(tail);
	json_t *r;

	json_array_foreach(refused, i, r) {
		const char *p = ajson_str(r, "path", "");
		size_t pn = strlen(p);

		if (pn >= n && strcmp(p + pn - n, tail) == 0)
			return ajson_str(r, "why", "");
	}
	return NULL;
}

static void
test_skills_where_and_order(void **state)
{
	struct fx *f = *state;
	char r1[256], r2[256], r3[256];
	json_t *sk, *refused = NULL;

	snprintf(r1, sizeof(r1), "%s/sub/.agents/skills", f->repo);
	snprintf(r2, sizeof(r2), "%s/.agents/skills", f->repo);
	snprintf(r3, sizeof(r3), "%s/skills", f->global);
	skill(r1, "near", "name: near\ndescription: Near the workspace.\n", "near body\n");
	skill(r2, "near", "name: near\ndescription: Shadowed at the root.\n", "x\n");
	skill(r2, "rooted", "name: rooted\ndescription: At the root.\n", "rooted body\n");
	skill(r3, "personal", "name: personal\ndescription: The user's own.\n", "mine\n");
	/* above the repository: never looked at */
	snprintf(r1, sizeof(r1), "%s/.agents/skills", f->dir);
	skill(r1, "outside", "name: outside\ndescription: Above the repository.\n", "no\n");
	sk = discover(f, "sub", &refused);
	assert_int_equal(json_array_size(sk), 3);
	assert_string_equal(ajson_str(json_array_get(sk, 0), "name", ""), "near");
	assert_string_equal(ajson_str(json_array_get(sk, 0), "description", ""), "Near the workspace.");
	assert_string_equal(ajson_str(json_array_get(sk, 1), "name", ""), "rooted");
	assert_string_equal(ajson_str(json_array_get(sk, 2), "name", ""), "personal");
	assert_non_null(why_refused(refused, ".agents/skills/near/SKILL.md"));
	assert_null(agent_skills_find(sk, "outside"));
	json_decref(sk);
	json_decref(refused);
}

static void
test_skills_refused(void **state)
{
	struct fx *f = *state;
	char r[256], big[1100];
	json_t *sk, *refused = NULL;

	snprintf(r, sizeof(r), "%s/.agents/skills", f->repo);
	memset(big, 'd', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	skill(r, "good", "name: good\ndescription: >\n  Folded over\n  two lines.\n"
	    "metadata:\n  author: me\n  version: \"1\"\nallowed-tools: Bash Read\n", "ok\n");
	skill(r, "Upper", "name: Upper\ndescription: x\n", "x\n");
	skill(r, "other-folder", "name: not-the-folder\ndescription: x\n", "x\n");
	skill(r, "double--hyphen", "name: double--hyphen\ndescription: x\n", "x\n");
	skill(r, "nodesc", "name: nodesc\n", "x\n");
	{
		char front[1300];

		snprintf(front, sizeof(front), "name: longdesc\ndescription: %s\n", big);
		skill(r, "longdesc", front, "x\n");
	}
	sh("mkdir -p %s/nofront && echo 'just text' > %s/nofront/SKILL.md", r, r);
	sh("mkdir -p %s/empty", r);
	put(f->dir, "secret.md", "---\nname: linked\ndescription: x\n---\nPRIVATE\n");
	sh("mkdir -p %s/linked && ln -s %s/secret.md %s/linked/SKILL.md", r, f->dir, r);
	sh("mkdir -p %s/elsewhere && cp %s/secret.md %s/elsewhere/SKILL.md && "
	    "ln -s %s/elsewhere %s/dirlink", f->dir, f->dir, f->dir, f->dir, r);
	sk = discover(f, "", &refused);
	assert_int_equal(json_array_size(sk), 1);
	assert_string_equal(ajson_str(json_array_get(sk, 0), "description", ""),
	    "Folded over two lines.");
	assert_string_equal(ajson_str(json_array_get(sk, 0), "allowed_tools", ""), "Bash Read");
	assert_non_null(strstr(why_refused(refused, "Upper/SKILL.md"), "lowercase"));
	assert_non_null(strstr(why_refused(refused, "other-folder/SKILL.md"), "folder's name"));
	assert_non_null(strstr(why_refused(refused, "double--hyphen/SKILL.md"), "hyphen"));
	assert_non_null(strstr(why_refused(refused, "nodesc/SKILL.md"), "description"));
	assert_non_null(strstr(why_refused(refused, "longdesc/SKILL.md"), "1,024"));
	assert_non_null(strstr(why_refused(refused, "nofront/SKILL.md"), "front matter"));
	assert_non_null(strstr(why_refused(refused, "empty/SKILL.md"), "missing"));
	assert_non_null(strstr(why_refused(refused, "linked/SKILL.md"), "symbolic link"));
	assert_non_null(strstr(why_refused(refused, "dirlink"), "symbolic links"));
	json_decref(sk);
	json_decref(refused);
}

static void
test_skills_catalog_budget(void **state)
{
	struct fx *f = *state;
	char r[256], name[32], front[600];
	json_t *sk;
	char *cat;
	int i;

	snprintf(r, sizeof(r), "%s/.agents/skills", f->repo);
	for (i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "skill-%02d", i);
		snprintf(front, sizeof(front), "name: %s\ndescription: Does task %d. %s\n", name, i,
		    "It has a long explanation that goes on and on about when to use it, when "
		    "not to use it, what it needs first, and all the reasons why.");
		skill(r, name, front, "body\n");
	}
	sk = discover(f, "", NULL);
	assert_int_equal(json_array_size(sk), 30);
	cat = agent_skills_catalog(sk, 100000);	/* room for all: full descriptions */
	assert_non_null(strstr(cat, "- skill-29: Does task 29. It has a long explanation"));
	free(cat);
	cat = agent_skills_catalog(sk, 4000);	/* descriptions cut short */
	assert_true(strlen(cat) <= 4000);
	assert_non_null(strstr(cat, "- skill-29: Does task 29."));
	assert_null(strstr(cat, "and why."));
	free(cat);
	cat = agent_skills_catalog(sk, 400);	/* names only, and the rest counted */
	assert_true(strlen(cat) <= 400 + 80);
	assert_non_null(strstr(cat, "- skill-00\n"));
	assert_non_null(strstr(cat, "more: call `skill`"));
	free(cat);
	json_decref(sk);
	sk = json_array();
	assert_null(agent_skills_catalog(sk, 1000));
	json_decref(sk);
}

static void
test_skill_load(void **state)
{
	struct fx *f = *state;
	char r[256], d[300];
	struct agentd_error err = { 0 };
	json_t *sk;
	char *t = NULL;

	snprintf(r, sizeof(r), "%s/.agents/skills", f->repo);
	skill(r, "deploy", "name: deploy\ndescription: Deploy the site.\n", "STEP-ONE: build.\n");
	snprintf(d, sizeof(d), "%s/deploy", r);
	sh("mkdir -p %s/scripts %s/references && echo 'echo deployed' > %s/scripts/run.sh && "
	    "echo 'API NOTES' > %s/references/api.md && ln -s /etc/passwd %s/references/pw.md",
	    d, d, d, d, d);
	sk = discover(f, "", NULL);
	assert_int_equal(agent_skill_load(agent_skills_find(sk, "deploy"), NULL, &t, &err), AGENTD_OK);
	assert_non_null(strstr(t, "STEP-ONE: build."));
	assert_null(strstr(t, "description: Deploy"));	/* the front matter is not the body */
	assert_non_null(strstr(t, "- references/api.md"));
	assert_non_null(strstr(t, "- scripts/run.sh"));
	assert_null(strstr(t, "pw.md"));		/* links are not listed */
	free(t);
	t = NULL;
	assert_int_equal(agent_skill_load(agent_skills_find(sk, "deploy"), "references/api.md", &t,
	    &err), AGENTD_OK);
	assert_string_equal(t, "API NOTES\n");
	free(t);
	t = NULL;
	assert_int_not_equal(agent_skill_load(agent_skills_find(sk, "deploy"), "references/pw.md",
	    &t, &err), AGENTD_OK);
	assert_non_null(strstr(err.msg, "symbolic link"));
	assert_int_not_equal(agent_skill_load(agent_skills_find(sk, "deploy"), "../deploy/SKILL.md",
	    &t, &err), AGENTD_OK);
	assert_int_not_equal(agent_skill_load(agent_skills_find(sk, "deploy"), "/etc/passwd",
	    &t, &err), AGENTD_OK);
	assert_null(t);
	json_decref(sk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_root_then_deeper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_global_first_override_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_file_per_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_and_marker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_repository, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worktree_git_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skills_where_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skills_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skills_catalog_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skill_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
