/*
 * schema.c — validation of tool arguments against the JSON Schema subset the
 * tools use: type (a name or an array of names), properties, required, enum,
 * items, additionalProperties:false, minimum/maximum, minLength/maxLength,
 * minItems/maxItems. Messages name the field path, what was wrong and what
 * is expected, so that a small model can fix its call.
 */
#include "tools/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

static int
type_matches(const char *t, const json_t *v)
{
	if (strcmp(t, "string") == 0)
		return json_is_string(v);
	if (strcmp(t, "integer") == 0)
		return json_is_integer(v) ||
		    (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
	if (strcmp(t, "number") == 0)
		return json_is_number(v);
	if (strcmp(t, "boolean") == 0)
		return json_is_boolean(v);
	if (strcmp(t, "object") == 0)
		return json_is_object(v);
	if (strcmp(t, "array") == 0)
		return json_is_array(v);
	if (strcmp(t, "null") == 0)
		return json_is_null(v);
	return 0;
}

/* Short rendering of a value for messages (malloc'd). */
static char *
show(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	char *cut;

	if (s == NULL)
		return NULL;
	if (strlen(s) <= 60)
		return s;
	cut = buf_cut_middle(s, strlen(s), 60, NULL);
	free(s);
	return cut;
}

static const char *
where(const char *path)
{
	return path[0] ? path : "(arguments)";
}

static int
fail_type(const char *path, const json_t *schema_type, const json_t *v,
    struct agentd_error *err)
{
	struct abuf b;
	char *got = show(v);
	size_t i;
	int rc;

	abuf_init(&b, 512);
	if (json_is_string(schema_type))
		abuf_printf(&b, "%s", json_string_value(schema_type));
	else
		for (i = 0; i < json_array_size(schema_type); i++)
			abuf_printf(&b, "%s%s", i ? " or " : "",
			    json_string_value(json_array_get(schema_type, i)));
	rc = agentd_seterr(err, AGENTD_EINVAL,
	    "argument '%s': expected %s %s, got %s %s",
	    where(path), json_is_string(schema_type) ? "type" : "one of the types",
	    b.data ? b.data : "?", type_name(v), got ? got : "");
	abuf_free(&b);
	free(got);
	return rc;
}

static int validate(const json_t *schema, const json_t *v, const char *path,
    struct agentd_error *err);

static int
check_object(const json_t *schema, const json_t *v, const char *path,
    struct agentd_error *err)
{
	const json_t *props = json_object_get(schema, "properties");
	const json_t *req = json_object_get(schema, "required");
	const json_t *addl = json_object_get(schema, "additionalProperties");
	const char *key;
	json_t *val;
	char sub[512];
	size_t i;
	int rc;

	for (i = 0; i < json_array_size(req); i++) {
		const char *k = json_string_value(json_array_get(req, i));

		if (k && json_object_get(v, k) == NULL) {
			const json_t *ps = json_object_get(props, k);
			const char *t = json_string_value(json_object_get(ps, "type"));

			return agentd_seterr(err, AGENTD_EINVAL,
			    "missing required argument '%s%s%s'%s%s%s",
			    path[0] ? path : "", path[0] ? "." : "", k,
			    t ? " (" : "", t ? t : "", t ? ")" : "");
		}
	}
	json_object_foreach((json_t *)v, key, val) {
		const json_t *ps = json_object_get(props, key);

		snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key);
		if (ps == NULL) {
			if (json_is_false(addl)) {
				struct abuf b;

				abuf_init(&b, 400);
				{
					const char *pk;
					json_t *pv;
					int first = 1;

					json_object_foreach((json_t *)props, pk, pv) {
						(void)pv;
						abuf_printf(&b, "%s%s", first ? "" : ", ", pk);
						first = 0;
					}
				}
				rc = agentd_seterr(err, AGENTD_EINVAL,
				    "unknown argument '%s'; the allowed arguments are: %s",
				    sub, b.data ? b.data : "(none)");
				abuf_free(&b);
				return rc;
			}
			continue;
		}
		rc = validate(ps, val, sub, err);
		if (rc != AGENTD_OK)
			return rc;
	}
	return AGENTD_OK;
}

static int
validate(const json_t *schema, const json_t *v, const char *path, struct agentd_error *err)
{
	const json_t *type = json_object_get(schema, "type");
	const json_t *en = json_object_get(schema, "enum");
	const json_t *lim;
	size_t i;
	int ok, rc;

	if (type != NULL) {
		ok = 0;
		if (json_is_string(type))
			ok = type_matches(json_string_value(type), v);
		else
			for (i = 0; i < json_array_size(type) && !ok; i++)
				ok = type_matches(json_string_value(json_array_get(type, i)), v);
		if (!ok)
			return fail_type(path, type, v, err);
	}
	if (en != NULL) {
		ok = 0;
		for (i = 0; i < json_array_size(en) && !ok; i++)
			ok = json_equal(json_array_get(en, i), (json_t *)v);
		if (!ok) {
			char *got = show(v), *allowed = json_dumps(en, JSON_COMPACT);

			rc = agentd_seterr(err, AGENTD_EINVAL,
			    "argument '%s': %s is not allowed; use one of %s",
			    where(path), got ? got : "value", allowed ? allowed : "the listed values");
			free(got);
			free(allowed);
			return rc;
		}
	}
	if (json_is_number(v)) {
		double x = json_number_value(v);

		if ((lim = json_object_get(schema, "minimum")) && x < json_number_value(lim))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "argument '%s': %g is too small; the minimum is %g",
			    where(path), x, json_number_value(lim));
		if ((lim = json_object_get(schema, "maximum")) && x > json_number_value(lim))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "argument '%s': %g is too large; the maximum is %g",
			    where(path), x, json_number_value(lim));
	}
	if (json_is_string(v)) {
		size_t n = json_string_length(v);

		if ((lim = json_object_get(schema, "minLength")) &&
		    (json_int_t)n < json_integer_value(lim))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "argument '%s': the string is %s; it needs at least %lld character%s",
			    where(path), n == 0 ? "empty" : "too short",
			    (long long)json_integer_value(lim),
			    json_integer_value(lim) == 1 ? "" : "s");
		if ((lim = json_object_get(schema, "maxLength")) &&
		    (json_int_t)n > json_integer_value(lim))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "argument '%s': the string is %zu bytes long; at most %lld allowed",
			    where(path), n, (long long)json_integer_value(lim));
	}
	if (json_is_array(v)) {
		const json_t *items = json_object_get(schema, "items");
		size_t n = json_array_size(v);
		char sub[512];

		if ((lim = json_object_get(schema, "minItems")) &&
		    (json_int_t)n < json_integer_value(lim))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "argument '%s': the list has %zu item%s; it needs at least %lld",
			    where(path), n, n == 1 ? "" : "s", (long long)json_integer_value(lim));
		if ((lim = json_object_get(schema, "maxItems")) &&
		    (json_int_t)n > json_integer_value(lim))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "argument '%s': the list has %zu items; at most %lld allowed",
			    where(path), n, (long long)json_integer_value(lim));
		for (i = 0; items != NULL && i < n; i++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			rc = validate(items, json_array_get(v, i), sub, err);
			if (rc != AGENTD_OK)
				return rc;
		}
	}
	if (json_is_object(v))
		return check_object(schema, v, path, err);
	return AGENTD_OK;
}

int
tools_validate(const json_t *schema, const json_t *args, struct agentd_error *err)
{
	if (!json_is_object(schema))
		return agentd_seterr(err, AGENTD_EINVAL, "schema is not a JSON object");
	if (args == NULL)
		return agentd_seterr(err, AGENTD_EINVAL,
		    "arguments are missing; pass a JSON object, like {}");
	if (json_is_string(json_object_get(schema, "type")) &&
	    strcmp(json_string_value(json_object_get(schema, "type")), "object") == 0 &&
	    !json_is_object(args)) {
		char *got = show(args);
		int rc = agentd_seterr(err, AGENTD_EINVAL,
		    "arguments must be a JSON object like {\"name\": value}, got %s %s",
		    type_name(args), got ? got : "");

		free(got);
		return rc;
	}
	return validate(schema, args, "", err);
}
