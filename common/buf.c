/* buf.c — bounded buffers: growable with a cap, and head+tail capture. */
#include "common/buf.h"
#include "common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
abuf_init(struct abuf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

static int
abuf_reserve(struct abuf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (extra > b->max || b->len > b->max - extra)
		return AGENTD_ETOOBIG;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return AGENTD_OK;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	p = realloc(b->data, ncap);
	if (p == NULL)
		return AGENTD_ENOMEM;
	b->data = p;
	b->cap = ncap;
	return AGENTD_OK;
}

int
abuf_append(struct abuf *b, const void *p, size_t n)
{
	int rc = abuf_reserve(b, n);

	if (rc != AGENTD_OK)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return AGENTD_OK;
}

int
abuf_puts(struct abuf *b, const char *s)
{
	return abuf_append(b, s, strlen(s));
}

int
abuf_vprintf(struct abuf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, rc;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return AGENTD_EINVAL;
	rc = abuf_reserve(b, (size_t)n);
	if (rc != AGENTD_OK)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return AGENTD_OK;
}

int
abuf_printf(struct abuf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = abuf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void
abuf_consume(struct abuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		if (b->data)
			b->data[0] = '\0';
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
abuf_reset(struct abuf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *
abuf_steal(struct abuf *b)
{
	char *p = b->data;

	if (p == NULL)
		p = strdup("");
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

void
abuf_free(struct abuf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

int
htbuf_init(struct htbuf *h, size_t cap)
{
	memset(h, 0, sizeof(*h));
	h->half = cap / 2;
	if (h->half == 0)
		h->half = 1;
	h->head = malloc(h->half);
	h->tail = malloc(h->half);
	if (h->head == NULL || h->tail == NULL) {
		htbuf_free(h);
		return AGENTD_ENOMEM;
	}
	return AGENTD_OK;
}

void
htbuf_append(struct htbuf *h, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t take;

	h->total += n;
	if (h->head_len < h->half) {
		take = h->half - h->head_len;
		if (take > n)
			take = n;
		memcpy(h->head + h->head_len, s, take);
		h->head_len += take;
		s += take;
		n -= take;
	}
	if (n == 0)
		return;
	if (n >= h->half) {
		memcpy(h->tail, s + n - h->half, h->half);
		h->tail_len = h->half;
		h->tail_pos = 0;
		return;
	}
	while (n > 0) {
		take = h->half - h->tail_pos;
		if (take > n)
			take = n;
		memcpy(h->tail + h->tail_pos, s, take);
		h->tail_pos = (h->tail_pos + take) % h->half;
		if (h->tail_len < h->half)
			h->tail_len = h->tail_len + take > h->half ? h->half : h->tail_len + take;
		s += take;
		n -= take;
	}
}

size_t
htbuf_dropped(const struct htbuf *h)
{
	return h->total - h->head_len - h->tail_len;
}

char *
htbuf_render(const struct htbuf *h, size_t *len)
{
	char marker[96];
	size_t dropped = htbuf_dropped(h), mlen = 0, n, start;
	char *out, *w;

	if (dropped > 0)
		mlen = (size_t)snprintf(marker, sizeof(marker),
		    "\n[... %zu bytes omitted ...]\n", dropped);
	out = malloc(h->head_len + mlen + h->tail_len + 1);
	if (out == NULL)
		return NULL;
	w = out;
	memcpy(w, h->head, h->head_len);
	w += h->head_len;
	memcpy(w, marker, mlen);
	w += mlen;
	if (h->tail_len > 0) {
		/* Oldest tail byte sits at tail_pos once the ring is full. */
		start = h->tail_len < h->half ? 0 : h->tail_pos;
		n = h->tail_len - start;
		memcpy(w, h->tail + start, n);
		w += n;
		memcpy(w, h->tail, start);
		w += start;
	}
	*w = '\0';
	if (len)
		*len = (size_t)(w - out);
	return out;
}

void
htbuf_free(struct htbuf *h)
{
	if (h == NULL)
		return;
	free(h->head);
	free(h->tail);
	h->head = h->tail = NULL;
	h->head_len = h->tail_len = 0;
}

char *
buf_cut_middle(const char *s, size_t len, size_t cap, size_t *out_len)
{
	struct htbuf h;
	char *out;

	if (len <= cap) {
		out = malloc(len + 1);
		if (out == NULL)
			return NULL;
		memcpy(out, s, len);
		out[len] = '\0';
		if (out_len)
			*out_len = len;
		return out;
	}
	if (htbuf_init(&h, cap) != AGENTD_OK)
		return NULL;
	htbuf_append(&h, s, len);
	out = htbuf_render(&h, out_len);
	htbuf_free(&h);
	return out;
}

int
buf_path_within(const char *path, const char *dir)
{
	size_t n = dir ? strlen(dir) : 0;

	if (n == 0 || path == NULL)
		return 0;
	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}
