/*
 * llm_probe.c — check one model endpoint the way `agentctl doctor` reports
 * it: does it answer, which models does it list, how large is its window
 * and how many slots share it, does it accept a request that offers a tool,
 * and does it render tools with a real tool-call template or fall back to a
 * generic JSON format (llama.cpp without a tool-aware template).
 *
 * Every request is short (5 s at most) and sends no traffic anywhere but the
 * configured URL.
 */
#include "agent/llm.h"
#include "agent/llm_internal.h"
#include "common/buf.h"
#include "common/num.h"
#include "common/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What llama.cpp's generic tool format puts in the prompt. */
#define GENERIC_TOOL_MARK "Respond in JSON format, either with `tool_call`"


/* base without a trailing "/v1" (and slashes): where /props lives. */
static char *
root_of(const char *base)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n >= 3 && strncmp(base + n - 3, "/v1", 3) == 0)
		n -= 3;
	return strndup(base, n);
}

/* GET or POST base+path: status, and the body parsed when it is JSON. */
static long
fetch(const struct llm_config *c, const char *base, const char *path, const char *key,
    const char *body, json_t **json, char *excerpt, size_t elen)
{
	char url[2048];
	struct abuf b;
	long st;
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s%s", (int)n, base, path);
	abuf_init(&b, 1u << 20);
	st = llm_http_probe(c, url, key, body, &b);
	*json = b.data ? json_loadb(b.data, b.len, 0, NULL) : NULL;
	if (excerpt != NULL && elen > 0) {
		size_t i, k = 0;

		/* a short, printable excerpt of what came back */
		for (i = 0; b.data && i < b.len && k + 1 < elen && k < 120; i++)
			excerpt[k++] = (b.data[i] >= 0x20 && b.data[i] < 0x7f) ? b.data[i] : ' ';
		excerpt[k] = '\0';
	}
	abuf_free(&b);
	return st;
}

int
llm_probe_endpoint(const struct llm_config *c, int index, json_t **report,
    struct agentd_error *err)
{
	const struct llm_endpoint *e;
	struct llm_config one;
	json_t *rep, *v = NULL, *models, *d;
	char *root, excerpt[160];
	double t0 = (anum_mono_s() * 1000.0);
	long st;
	size_t i;
	int n_ctx = 0;

	if (c == NULL || index < 0 || index >= c->n_endpoints)
		return agentd_seterr(err, AGENTD_EINVAL, "no endpoint %d", index);
	e = &c->endpoints[index];
	root = root_of(e->url);
	rep = json_pack("{s:s, s:s?}", "url", e->url, "model", e->model);
	if (root == NULL || rep == NULL) {
		free(root);
		json_decref(rep);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	/* reachable, and the models it lists */
	st = fetch(c, e->url, "/models", e->api_key, NULL, &v, excerpt, sizeof(excerpt));
	json_object_set_new(rep, "reachable", json_boolean(st != 0));
	json_object_set_new(rep, "models_status", json_integer(st));
	models = json_array();
	json_array_foreach(json_object_get(v, "data"), i, d)
		if (json_is_string(json_object_get(d, "id")))
			json_array_append(models, json_object_get(d, "id"));
	json_decref(v);
	json_object_set_new(rep, "models", models);
	if (st != 0 && st != 200)
		json_object_set_new(rep, "models_excerpt", json_string(excerpt));
	if (e->model != NULL && json_array_size(models) > 0) {
		int listed = 0;

		json_array_foreach(models, i, d)
			if (strcmp(json_string_value(d), e->model) == 0)
				listed = 1;
		json_object_set_new(rep, "model_listed", json_boolean(listed));
	}
	if (st == 0) {
		json_object_set_new(rep, "error", json_string("nothing answers at this URL"));
		goto out;
	}
	/* llama.cpp: the window and how many slots share it */
	if (fetch(c, root, "/props", e->api_key, NULL, &v, NULL, 0) == 200 && json_is_object(v)) {
		json_t *dg = json_object_get(v, "default_generation_settings");

		json_object_set_new(rep, "server", json_string("llama.cpp"));
		if (json_is_integer(json_object_get(dg, "n_ctx")))
			json_object_set(rep, "n_ctx", json_object_get(dg, "n_ctx"));
		if (json_is_integer(json_object_get(v, "total_slots")))
			json_object_set(rep, "slots", json_object_get(v, "total_slots"));
	}
	json_decref(v);
	v = NULL;
	if (!json_is_integer(json_object_get(rep, "n_ctx"))) {
		struct agentd_error ce;

		one = *c;
		one.endpoints[0] = *e;
		one.n_endpoints = 1;
		agentd_error_clear(&ce);
		if (llm_context_window(&one, &n_ctx, &ce) == AGENTD_OK)
			json_object_set_new(rep, "n_ctx", json_integer(n_ctx));
	}
	/* llama.cpp: is a tool rendered by the model's template or by the
	 * generic fallback? (/apply-template shows the prompt it would use) */
	{
		json_t *o = json_pack("{s:[{s:s, s:s}], s:[{s:s, s:{s:s, s:s, s:{s:s, s:{}}}}]}",
		    "messages", "role", "user", "content", "ping", "tools", "type", "function",
		    "function", "name", "ping", "description", "Answer ping.", "parameters",
		    "type", "object", "properties");
		char *body = o ? ajson_dumps(o) : NULL;

		json_decref(o);

		if (body != NULL && fetch(c, root, "/apply-template", e->api_key, body, &v, NULL,
		    0) == 200 && json_is_string(json_object_get(v, "prompt")))
			json_object_set_new(rep, "generic_tool_format", json_boolean(strstr(
			    json_string_value(json_object_get(v, "prompt")), GENERIC_TOOL_MARK) != NULL));
		json_decref(v);
		v = NULL;
		free(body);
	}
	/* a one-token request that offers a tool: accepted or refused, and why */
	{
		struct llm_request req;
		struct llm_response resp;
		struct agentd_error ce;
		json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content",
		    "Reply with the word ok.");
		json_t *tools = json_pack("[{s:s, s:{s:s, s:s, s:{s:s, s:{}}}}]", "type", "function",
		    "function", "name", "ping", "description", "Answer ping.", "parameters",
		    "type", "object", "properties");

		one = *c;
		one.endpoints[0] = *e;
		one.n_endpoints = 1;
		one.stream = 0;
		one.max_retries = 0;
		one.max_tokens = 1;
		one.idle_timeout_ms = 30000;
		memset(&req, 0, sizeof(req));
		req.messages = msgs;
		req.tools = tools;
		req.tool_choice = "auto";
		memset(&resp, 0, sizeof(resp));
		agentd_error_clear(&ce);
		if (msgs != NULL && tools != NULL && llm_chat(&one, &req, NULL, &resp, &ce) == AGENTD_OK) {
			json_object_set_new(rep, "tools_ok", json_true());
			if (resp.prompt_tokens >= 0)
				json_object_set_new(rep, "probe_prompt_tokens",
				    json_integer(resp.prompt_tokens));
		} else {
			json_object_set_new(rep, "tools_ok", json_false());
			json_object_set_new(rep, "tools_error", json_string(agentd_errmsg(&ce)));
		}
		llm_response_free(&resp);
		json_decref(msgs);
		json_decref(tools);
	}
out:
	json_object_set_new(rep, "ms", json_integer((json_int_t)((anum_mono_s() * 1000.0) - t0)));
	free(root);
	*report = rep;
	return AGENTD_OK;
}

int
llm_count_tokens(const struct llm_config *c, const json_t *messages, const json_t *tools,
    int64_t *n, struct agentd_error *err)
{
	int i;

	for (i = 0; i < c->n_endpoints && i < LLM_MAX_ENDPOINTS; i++) {
		const struct llm_endpoint *e = &c->endpoints[i];
		char *root = root_of(e->url), *body;
		json_t *req, *v = NULL, *toks;
		long st;

		if (root == NULL)
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		/* the prompt as the server's own chat template renders it … */
		req = json_pack("{s:O, s:O?}", "messages", messages, "tools", tools);
		body = req ? ajson_dumps(req) : NULL;
		json_decref(req);
		st = body ? fetch(c, root, "/apply-template", e->api_key, body, &v, NULL, 0) : 0;
		free(body);
		if (st != 200 || !json_is_string(json_object_get(v, "prompt"))) {
			json_decref(v);
			free(root);
			continue;
		}
		/* … counted by its tokenizer, special tokens as the template's */
		req = json_pack("{s:O, s:b, s:b}", "content", json_object_get(v, "prompt"),
		    "add_special", 0, "parse_special", 1);
		json_decref(v);
		v = NULL;
		body = req ? ajson_dumps(req) : NULL;
		json_decref(req);
		st = body ? fetch(c, root, "/tokenize", e->api_key, body, &v, NULL, 0) : 0;
		free(body);
		free(root);
		toks = json_object_get(v, "tokens");
		if (st == 200 && json_is_array(toks)) {
			*n = (int64_t)json_array_size(toks);
			json_decref(v);
			return AGENTD_OK;
		}
		json_decref(v);
	}
	return agentd_seterr(err, AGENTD_ENOTFOUND,
	    "the model server cannot count tokens (no /apply-template and /tokenize)");
}
