/*
 * json.h — small jansson helpers shared by every module.
 *
 * All getters borrow: the returned pointers live as long as the object.
 * They return a default when the key is missing or has another type;
 * use ajson_check_* when the caller must tell those apart.
 */
#ifndef AGENTD_COMMON_JSON_H
#define AGENTD_COMMON_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "common/error.h"

const char *ajson_str(const json_t *obj, const char *key, const char *dflt);
json_int_t ajson_int(const json_t *obj, const char *key, json_int_t dflt);
double ajson_num(const json_t *obj, const char *key, double dflt);
int ajson_bool(const json_t *obj, const char *key, int dflt);

/*
 * Typed optional fields: AGENTD_OK and *out set when present with the right
 * type; AGENTD_ENOTFOUND (out untouched) when absent or null; AGENTD_EINVAL
 * with a message naming the field and the expected type otherwise.
 */
int ajson_opt_str(const json_t *obj, const char *key, const char **out, struct agentd_error *err);
int ajson_opt_int(const json_t *obj, const char *key, json_int_t *out, struct agentd_error *err);
int ajson_opt_bool(const json_t *obj, const char *key, int *out, struct agentd_error *err);

/* Serialize compactly to a malloc'd string (NULL on failure). */
char *ajson_dumps(const json_t *v);

/*
 * Parse text into a new reference. On failure returns NULL and writes
 * "line L, column C: reason" into err (AGENTD_EINVAL).
 */
json_t *ajson_loads(const char *text, size_t len, struct agentd_error *err);

/* Set obj[key] to a new string / integer / bool; NULL string sets null. */
int ajson_set_str(json_t *obj, const char *key, const char *val);
int ajson_set_int(json_t *obj, const char *key, json_int_t val);
int ajson_set_bool(json_t *obj, const char *key, int val);

/*
 * A new JSON string from bytes that may not be UTF-8 (command output, file
 * contents): invalid sequences and NUL bytes become U+FFFD. NULL on ENOMEM.
 */
json_t *ajson_string_lossy(const char *s, size_t n);

/* 1 when the array holds the string s (non-strings are skipped). */
int ajson_array_has(const json_t *arr, const char *s);

/* Seconds since the epoch with millisecond precision (CLOCK_REALTIME). */
double ajson_now(void);

#endif
