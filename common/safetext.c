/* safetext.c — escaping terminal controls out of untrusted text (see safetext.h). */
#include "common/safetext.h"
#include "common/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Length of the valid UTF-8 sequence at s (1..4), its code point in *cp;
 * 0 when the byte at s does not start one (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF).
 */
static size_t
utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 1; i < len; i++) {
		if (i > 1 && (s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	*cp = v;
	return len;
}

static int
is_bidi_control(uint32_t cp)
{
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/*
 * Look at the text at s: returns how many input bytes the next unit takes
 * and sets esc to its escape ("" when the bytes pass unchanged).
 */
static size_t
next_unit(const unsigned char *s, size_t n, unsigned flags, char esc[8])
{
	uint32_t cp;
	size_t len;

	esc[0] = '\0';
	if (s[0] < 0x80) {
		if ((s[0] < 0x20 && s[0] != '\t' && (s[0] != '\n' || (flags & SAFETEXT_ONE_LINE))) ||
		    s[0] == 0x7f)
			snprintf(esc, 8, "\\x%02x", s[0]);
		return 1;
	}
	len = utf8_seq(s, n, &cp);
	if (len == 0) {
		snprintf(esc, 8, "\\x%02x", s[0]);
		return 1;
	}
	if ((cp >= 0x80 && cp <= 0x9f) || is_bidi_control(cp))
		snprintf(esc, 8, "\\u%04x", (unsigned)cp);
	return len;
}

/* Where escaped text goes: an abuf, or a fixed buffer. */
struct sink {
	struct abuf *b;
	char *out;
	size_t len, cap;	/* fixed buffer: cap counts the NUL */
};

static int
sink_put(struct sink *k, const void *p, size_t n)
{
	if (k->b)
		return abuf_append(k->b, p, n);
	if (n >= k->cap - k->len)
		return AGENTD_ETOOBIG;
	memcpy(k->out + k->len, p, n);
	k->len += n;
	k->out[k->len] = '\0';
	return AGENTD_OK;
}

static int
escape_to(struct sink *k, const char *s, size_t n, unsigned flags)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0, len;
	char esc[8];
	int rc;

	/* Clean runs are copied whole; a unit never straddles a cut. */
	while (i + run < n) {
		len = next_unit(u + i + run, n - i - run, flags, esc);
		if (esc[0] == '\0') {
			run += len;
			continue;
		}
		if (run) {
			/* Copy the clean run unit by unit only when it does not fit. */
			if ((rc = sink_put(k, s + i, run)) != AGENTD_OK)
				goto partial;
			i += run;
			run = 0;
		}
		if ((rc = sink_put(k, esc, strlen(esc))) != AGENTD_OK)
			return rc;
		i += len;
	}
	if (run && (rc = sink_put(k, s + i, run)) != AGENTD_OK)
		goto partial;
	return AGENTD_OK;
partial:
	/* As much of the clean run as fits, whole characters only. */
	while (run > 0) {
		len = next_unit(u + i, run, flags, esc);
		if (sink_put(k, s + i, len) != AGENTD_OK)
			break;
		i += len;
		run -= len;
	}
	return rc;
}

int
safetext_append(struct abuf *b, const char *s, size_t n, unsigned flags)
{
	struct sink k = { .b = b };

	return escape_to(&k, s, n, flags);
}

char *
safetext_dup(const char *s, unsigned flags)
{
	struct abuf b;

	abuf_init(&b, (size_t)-1 / 2);
	if (s == NULL)
		s = "";
	if (escape_to(&(struct sink){ .b = &b }, s, strlen(s), flags) != AGENTD_OK) {
		abuf_free(&b);
		return NULL;
	}
	return abuf_steal(&b);
}

size_t
safetext_copy(char *out, size_t outlen, const char *s, size_t n, unsigned flags)
{
	struct sink k = { .out = out, .cap = outlen };

	if (outlen == 0)
		return 0;
	out[0] = '\0';
	escape_to(&k, s, n, flags);
	return k.len;
}

int
safetext_clean(const char *s, size_t n, unsigned flags)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	char esc[8];

	while (i < n) {
		i += next_unit(u + i, n - i, flags, esc);
		if (esc[0])
			return 0;
	}
	return 1;
}

char *
safetext_json(const char *json, size_t n, size_t *out_len)
{
	const unsigned char *u = (const unsigned char *)json;
	struct abuf b;
	size_t i = 0, run = 0, len;
	uint32_t cp;
	char esc[8];

	abuf_init(&b, (size_t)-1 / 2);
	while (i + run < n) {
		esc[0] = '\0';
		len = utf8_seq(u + i + run, n - i - run, &cp);
		if (len == 0) {
			snprintf(esc, sizeof(esc), "\\ufffd");
			len = 1;
		} else if ((cp < 0x20 && cp != '\n' && cp != '\t' && cp != '\r') ||
		    (cp >= 0x7f && cp <= 0x9f) || is_bidi_control(cp)) {
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
		}
		if (esc[0] == '\0') {
			run += len;
			continue;
		}
		if (abuf_append(&b, json + i, run) != AGENTD_OK || abuf_puts(&b, esc) != AGENTD_OK)
			goto oom;
		i += run + len;
		run = 0;
	}
	if (abuf_append(&b, json + i, run) != AGENTD_OK)
		goto oom;
	if (out_len)
		*out_len = b.len;
	return abuf_steal(&b);
oom:
	abuf_free(&b);
	return NULL;
}
