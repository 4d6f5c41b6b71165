/* json.c — jansson helpers shared by every module. */
#include "common/json.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *
ajson_str(const json_t *obj, const char *key, const char *dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

json_int_t
ajson_int(const json_t *obj, const char *key, json_int_t dflt)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	return dflt;
}

double
ajson_num(const json_t *obj, const char *key, double dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? json_number_value(v) : dflt;
}

int
ajson_bool(const json_t *obj, const char *key, int dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

int
ajson_opt_str(const json_t *obj, const char *key, const char **out, struct agentd_error *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return AGENTD_ENOTFOUND;
	if (!json_is_string(v))
		return agentd_seterr(err, AGENTD_EINVAL, "'%s' must be a string", key);
	*out = json_string_value(v);
	return AGENTD_OK;
}

int
ajson_opt_int(const json_t *obj, const char *key, json_int_t *out, struct agentd_error *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return AGENTD_ENOTFOUND;
	if (!json_is_integer(v))
		return agentd_seterr(err, AGENTD_EINVAL, "'%s' must be an integer", key);
	*out = json_integer_value(v);
	return AGENTD_OK;
}

int
ajson_opt_bool(const json_t *obj, const char *key, int *out, struct agentd_error *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return AGENTD_ENOTFOUND;
	if (!json_is_boolean(v))
		return agentd_seterr(err, AGENTD_EINVAL, "'%s' must be a boolean", key);
	*out = json_is_true(v);
	return AGENTD_OK;
}

char *
ajson_dumps(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

json_t *
ajson_loads(const char *text, size_t len, struct agentd_error *err)
{
	json_error_t jerr;
	json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

	if (v == NULL)
		agentd_seterr(err, AGENTD_EINVAL, "line %d, column %d: %s",
		    jerr.line, jerr.column, jerr.text);
	return v;
}

int
ajson_set_str(json_t *obj, const char *key, const char *val)
{
	json_t *v = val ? ajson_string_lossy(val, strlen(val)) : json_null();

	return json_object_set_new(obj, key, v) == 0 ? AGENTD_OK : AGENTD_ENOMEM;
}

int
ajson_set_int(json_t *obj, const char *key, json_int_t val)
{
	return json_object_set_new(obj, key, json_integer(val)) == 0 ? AGENTD_OK : AGENTD_ENOMEM;
}

int
ajson_set_bool(json_t *obj, const char *key, int val)
{
	return json_object_set_new(obj, key, json_boolean(val)) == 0 ? AGENTD_OK : AGENTD_ENOMEM;
}

int
ajson_array_has(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

double
ajson_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (s[0] < 0x80)
		return s[0] == 0 ? 0 : 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

json_t *
ajson_string_lossy(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, bad = 0, o = 0;
	char *out;
	json_t *v;

	for (i = 0; i < n; i += k ? k : 1) {
		k = utf8_seq(p + i, n - i);
		if (k == 0)
			bad++;
	}
	if (bad == 0)
		return json_stringn_nocheck(s, n);
	out = malloc(n + bad * 2 + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i += k ? k : 1) {
		k = utf8_seq(p + i, n - i);
		if (k == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
		} else {
			memcpy(out + o, p + i, k);
			o += k;
		}
	}
	v = json_stringn_nocheck(out, o);
	free(out);
	return v;
}
