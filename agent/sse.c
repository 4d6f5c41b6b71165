/*
 * sse.c — an incremental parser for Server-Sent Events, as model servers
 * stream them: `data:` lines (LF, CRLF or CR line ends), several data lines
 * of one event joined by "\n", the event dispatched at the blank line that
 * ends it, `:` comments and other fields skipped. Bytes may be fed split
 * anywhere; every line and every event is capped.
 */
#include "agent/llm.h"
#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

struct llm_sse {
	struct abuf line;	/* the line being read */
	struct abuf data;	/* data of the event being read */
	int have_data;		/* a data field was seen in this event */
	int last_cr;		/* previous byte ended a line with CR */
	size_t max_line;
};

struct llm_sse *
llm_sse_new(size_t max_line)
{
	struct llm_sse *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if (max_line == 0)
		max_line = 1 << 20;
	s->max_line = max_line;
	abuf_init(&s->line, max_line);
	abuf_init(&s->data, max_line);
	return s;
}

void
llm_sse_free(struct llm_sse *s)
{
	if (s == NULL)
		return;
	abuf_free(&s->line);
	abuf_free(&s->data);
	free(s);
}

/* One complete line (without its end). Returns non-zero to stop. */
static int
sse_line(struct llm_sse *s, int (*fn)(void *, const char *, size_t), void *ud, int *rc)
{
	const char *p = s->line.data ? s->line.data : "";
	size_t n = s->line.len, flen;
	const char *colon;

	if (n == 0) {
		int stop = 0;

		if (s->have_data) {
			const char *d = s->data.data ? s->data.data : "";

			stop = fn(ud, d, s->data.len);
		}
		abuf_reset(&s->data);
		s->have_data = 0;
		return stop;
	}
	if (p[0] == ':')
		return 0;
	colon = memchr(p, ':', n);
	flen = colon ? (size_t)(colon - p) : n;
	if (flen != 4 || memcmp(p, "data", 4) != 0)
		return 0;	/* event:, id:, retry: and unknown fields */
	p += flen;
	n -= flen;
	if (n > 0) {		/* skip the colon and one space */
		p++;
		n--;
		if (n > 0 && *p == ' ') {
			p++;
			n--;
		}
	}
	if (s->have_data && (*rc = abuf_append(&s->data, "\n", 1)) != AGENTD_OK)
		return 1;
	if ((*rc = abuf_append(&s->data, p, n)) != AGENTD_OK)
		return 1;
	s->have_data = 1;
	return 0;
}

int
llm_sse_feed(struct llm_sse *s, const char *p, size_t n,
    int (*fn)(void *ud, const char *data, size_t len), void *ud)
{
	size_t i = 0;
	int rc = AGENTD_OK;

	while (i < n) {
		size_t j = i;

		if (s->last_cr && p[i] == '\n') {	/* the LF of a CRLF */
			s->last_cr = 0;
			i++;
			continue;
		}
		s->last_cr = 0;
		while (j < n && p[j] != '\n' && p[j] != '\r')
			j++;
		if ((rc = abuf_append(&s->line, p + i, j - i)) != AGENTD_OK)
			return rc;
		if (j == n)
			break;
		s->last_cr = p[j] == '\r';
		i = j + 1;
		if (sse_line(s, fn, ud, &rc)) {
			abuf_reset(&s->line);
			return rc;
		}
		abuf_reset(&s->line);
	}
	return AGENTD_OK;
}
