/*
 * mcp_http.c — the MCP client's Streamable HTTP transport over libcurl:
 * each JSON-RPC message is a POST whose answer comes as one JSON body or as
 * an SSE stream (notifications first, then the response); a cut stream is
 * resumed with GET and Last-Event-ID after the server's retry delay; the
 * session (Mcp-Session-Id) is echoed and DELETEd at the end. Every byte read
 * is capped, and only loopback addresses are dialled unless the server's
 * configuration says "network": true.
 */
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "tools/mcp.h"
#include "tools/mcp_internal.h"
#include "common/buf.h"
#include "common/num.h"
#include "common/json.h"

#define ERROR_BODY_MAX (64u << 10)	/* body of an HTTP error kept for the message */
#define EVENT_ID_MAX 255

struct mcp_http {
	char name[33];
	char *url;
	char *auth;			/* "Authorization: Bearer ..." or NULL */
	char session[MCP_SESSION_MAX + 1];	/* "" = none */
	char version[16];		/* MCP-Protocol-Version, "" = none yet */
	int network;
};

enum mode { MODE_NONE, MODE_SSE, MODE_BODY };
enum stop { STOP_NO, STOP_ANSWER, STOP_FAILED, STOP_CANCELLED, STOP_TOOBIG };

/* One HTTP exchange. */
struct xfer {
	struct mcp_http *t;
	CURL *h;
	const struct mcp_http_io *io;
	long want;			/* the id awaited, -1 for none */
	enum mode mode;
	long status;
	struct abuf body;		/* a JSON body, or an error's */
	struct abuf line;		/* SSE: the line being read */
	struct abuf data;		/* SSE: the data of the event being read */
	int cr;				/* SSE: the byte before was a CR */
	size_t *stream_total;		/* SSE bytes for the whole request */
	char event_id[EVENT_ID_MAX + 1];	/* SSE: the last id field ("" none) */
	long retry_ms;			/* SSE: the last retry field (-1 none) */
	json_t *answer;
	enum stop stop;
	int refused;			/* an address off this machine was refused */
	int bad_sid;
	char sid[MCP_SESSION_MAX + 1];	/* Mcp-Session-Id of this response */
	struct agentd_error err;	/* why, for STOP_FAILED */
};


/* A header value we may send as it is: visible ASCII, spaces inside. */
static int
header_safe(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

int
mcp_http_new(const char *name, const char *url, const char *bearer, int network,
    struct mcp_http **out, struct agentd_error *err)
{
	struct mcp_http *t;

	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return agentd_seterr(err, AGENTD_EINVAL, "mcp %s: url must start with http:// or https://",
		    name);
	if (!header_safe(url, strlen(url)) || strchr(url, ' '))
		return agentd_seterr(err, AGENTD_EINVAL, "mcp %s: the url has a space or a control "
		    "character", name);
	if (bearer && !header_safe(bearer, strlen(bearer)))
		return agentd_seterr(err, AGENTD_EINVAL, "mcp %s: the bearer token is empty or has "
		    "characters a header cannot carry", name);
	if ((t = calloc(1, sizeof(*t))) == NULL || (t->url = strdup(url)) == NULL)
		goto nomem;
	if (bearer) {
		size_t n = strlen(bearer) + 32;

		if ((t->auth = malloc(n)) == NULL)
			goto nomem;
		snprintf(t->auth, n, "Authorization: Bearer %s", bearer);
	}
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->network = network;
	*out = t;
	return AGENTD_OK;
nomem:
	if (t)
		free(t->url);
	free(t);
	return agentd_seterr(err, AGENTD_ENOMEM, "out of memory");
}

void
mcp_http_set_version(struct mcp_http *t, const char *version)
{
	snprintf(t->version, sizeof(t->version), "%s", version);
}

void
mcp_http_reset_session(struct mcp_http *t)
{
	t->session[0] = '\0';
}

/* ---- reading ---- */

/* A complete JSON-RPC message from the server: the answer, or for io. */
static void
take_message(struct xfer *x, json_t *m)
{
	json_t *id = json_object_get(m, "id");

	if (!json_object_get(m, "method")) {
		if (x->want >= 0 && json_is_integer(id) && json_integer_value(id) == x->want &&
		    x->answer == NULL) {
			x->answer = json_incref(m);
			x->stop = STOP_ANSWER;
		}
		return;	/* an answer to something else: stale, dropped */
	}
	if (x->io && x->io->on_msg)
		x->io->on_msg(x->io->ud, m);
}

static void
sse_dispatch(struct xfer *x)
{
	json_t *m;

	if (x->data.len && x->data.data[x->data.len - 1] == '\n')
		x->data.len--;
	if (x->data.len == 0) {
		abuf_reset(&x->data);
		return;		/* a priming event ("data:" with nothing), or no data at all */
	}
	m = json_loadb(x->data.data, x->data.len, 0, NULL);
	abuf_reset(&x->data);
	if (!json_is_object(m)) {
		json_decref(m);
		agentd_seterr(&x->err, AGENTD_EPROTO, "mcp %s: an SSE event that is not a JSON object",
		    x->t->name);
		x->stop = STOP_FAILED;
		return;
	}
	take_message(x, m);
	json_decref(m);
}

/* One SSE line (no terminator), as the EventSource rules read it. */
static void
sse_line(struct xfer *x, const char *s, size_t n)
{
	const char *colon, *v;
	size_t fl, vl;

	if (n == 0) {
		sse_dispatch(x);
		return;
	}
	if (s[0] == ':')
		return;
	colon = memchr(s, ':', n);
	fl = colon ? (size_t)(colon - s) : n;
	v = colon ? colon + 1 : s + n;
	vl = (size_t)(s + n - v);
	if (vl && *v == ' ') {
		v++;
		vl--;
	}
	if (fl == 4 && memcmp(s, "data", 4) == 0) {
		if (abuf_append(&x->data, v, vl) != AGENTD_OK || abuf_append(&x->data, "\n", 1) != AGENTD_OK)
			x->stop = STOP_TOOBIG;
	} else if (fl == 2 && memcmp(s, "id", 2) == 0) {
		if (vl <= EVENT_ID_MAX && header_safe(v, vl)) {	/* else it cannot go back in a header */
			memcpy(x->event_id, v, vl);
			x->event_id[vl] = '\0';
		}
	} else if (fl == 5 && memcmp(s, "retry", 5) == 0 && vl > 0 && vl < 9 &&
	    strspn(v, "0123456789") >= vl) {
		x->retry_ms = strtol(v, NULL, 10);
	}
}

static void
sse_feed(struct xfer *x, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && x->stop == STOP_NO; i++) {
		char ch = p[i];

		if (ch == '\n' && x->cr) {	/* the LF of a CRLF */
			x->cr = 0;
			continue;
		}
		x->cr = ch == '\r';
		if (ch == '\r' || ch == '\n') {
			sse_line(x, x->line.data ? x->line.data : "", x->line.len);
			abuf_reset(&x->line);
			continue;
		}
		if (abuf_append(&x->line, &ch, 1) != AGENTD_OK)
			x->stop = STOP_TOOBIG;
	}
}

static size_t
write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;

	if (x->mode == MODE_NONE) {
		char *ct = NULL;

		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
		curl_easy_getinfo(x->h, CURLINFO_CONTENT_TYPE, &ct);
		x->mode = x->status / 100 == 2 && ct && strncasecmp(ct, "text/event-stream", 17) == 0 ?
		    MODE_SSE : MODE_BODY;
		if (x->mode == MODE_BODY && x->status / 100 != 2)
			x->body.max = ERROR_BODY_MAX;
	}
	if (x->mode == MODE_SSE) {
		*x->stream_total += n;
		if (*x->stream_total > MCP_HTTP_STREAM_MAX)
			x->stop = STOP_TOOBIG;
		else
			sse_feed(x, p, n);
		return x->stop == STOP_NO ? n : 0;	/* the answer is in: stop reading */
	}
	if (abuf_append(&x->body, p, n) != AGENTD_OK) {
		if (x->status / 100 != 2)
			return 0;	/* an error page: its head is enough */
		x->stop = STOP_TOOBIG;
		return 0;
	}
	return n;
}

static size_t
header_cb(char *p, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nitems;

	if (n > 15 && strncasecmp(p, "Mcp-Session-Id:", 15) == 0) {
		const char *v = p + 15;
		size_t vl = n - 15;

		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl == 0 || vl > MCP_SESSION_MAX || !header_safe(v, vl) || memchr(v, ' ', vl)) {
			x->bad_sid = 1;
		} else {
			memcpy(x->sid, v, vl);
			x->sid[vl] = '\0';
		}
	}
	return n;
}

static int
xferinfo_cb(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct xfer *x = ud;

	(void)dt; (void)dn; (void)ut; (void)un;
	if (x->io && x->io->cancelled && x->io->cancelled(x->io->ud)) {
		x->stop = STOP_CANCELLED;
		return 1;
	}
	return 0;
}

static int
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

/* Every connection passes here: off this machine only with "network": true. */
static curl_socket_t
open_cb(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer *x = ud;

	(void)purpose;
	if (!x->t->network && !is_loopback(&a->addr)) {
		x->refused = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* ---- writing ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* "Name: value", or "Name: =?base64?...?=" when the value cannot go as it is. */
static struct curl_slist *
add_encoded(struct curl_slist *l, const char *hname, const char *v, int *fail)
{
	size_t n = strlen(v), i, o;
	int plain = header_safe(v, n) && !(n >= 11 && strncmp(v, "=?base64?", 9) == 0 &&
	    strcmp(v + n - 2, "?=") == 0);
	char *s = malloc(strlen(hname) + 2 + 11 + (n + 2) / 3 * 4 + 1);
	struct curl_slist *r;

	if (s == NULL) {
		*fail = 1;
		return l;
	}
	o = (size_t)sprintf(s, "%s: ", hname);
	if (plain) {
		memcpy(s + o, v, n + 1);
	} else {
		o += (size_t)sprintf(s + o, "=?base64?");
		for (i = 0; i < n; i += 3) {
			unsigned w = (unsigned char)v[i] << 16 | (i + 1 < n ? (unsigned char)v[i + 1] << 8 : 0) |
			    (i + 2 < n ? (unsigned char)v[i + 2] : 0);

			s[o++] = b64[w >> 18 & 63];
			s[o++] = b64[w >> 12 & 63];
			s[o++] = i + 1 < n ? b64[w >> 6 & 63] : '=';
			s[o++] = i + 2 < n ? b64[w & 63] : '=';
		}
		strcpy(s + o, "?=");
	}
	r = curl_slist_append(l, s);
	free(s);
	if (r == NULL)
		*fail = 1;
	return r ? r : l;
}

static struct curl_slist *
add(struct curl_slist *l, const char *h, int *fail)
{
	struct curl_slist *r = curl_slist_append(l, h);

	if (r == NULL)
		*fail = 1;
	return r ? r : l;
}

/* The headers of one exchange; msg is the POSTed message (NULL for GET/DELETE). */
static struct curl_slist *
make_headers(struct mcp_http *t, const json_t *msg, const char *last_id, int *fail)
{
	struct curl_slist *l = NULL;
	char b[400];

	*fail = 0;
	l = add(l, msg || !last_id ? "Accept: application/json, text/event-stream" :
	    "Accept: text/event-stream", fail);
	l = add(l, "Expect:", fail);
	if (msg)
		l = add(l, "Content-Type: application/json", fail);
	if (t->version[0]) {
		snprintf(b, sizeof(b), "MCP-Protocol-Version: %s", t->version);
		l = add(l, b, fail);
	}
	if (t->session[0]) {
		snprintf(b, sizeof(b), "Mcp-Session-Id: %s", t->session);
		l = add(l, b, fail);
	}
	if (last_id) {
		snprintf(b, sizeof(b), "Last-Event-ID: %s", last_id);
		l = add(l, b, fail);
	}
	if (t->auth)
		l = add(l, t->auth, fail);
	/* From 2026-07-28 on, the method and the name ride in headers too. */
	if (msg && strcmp(t->version, "2026-07-28") >= 0 && json_object_get(msg, "id")) {
		const char *m = ajson_str(msg, "method", NULL);
		const json_t *params = json_object_get(msg, "params");
		const char *nm = NULL;

		if (m) {
			l = add_encoded(l, "Mcp-Method", m, fail);
			if (strcmp(m, "tools/call") == 0 || strcmp(m, "prompts/get") == 0)
				nm = ajson_str(params, "name", NULL);
			else if (strcmp(m, "resources/read") == 0)
				nm = ajson_str(params, "uri", NULL);
			if (nm)
				l = add_encoded(l, "Mcp-Name", nm, fail);
		}
	}
	return l;
}

enum verb { VERB_POST, VERB_GET, VERB_DELETE };

/* One exchange; x is set up by the caller. */
static CURLcode
exchange(struct xfer *x, enum verb verb, const char *body, struct curl_slist *hdrs, double deadline)
{
	long ms = (long)((deadline - anum_mono_s()) * 1000);
	CURLcode res;

	if (ms < 1)
		ms = 1;
	if ((x->h = curl_easy_init()) == NULL)
		return CURLE_OUT_OF_MEMORY;
	curl_easy_setopt(x->h, CURLOPT_URL, x->t->url);
	curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, ms < 5000 ? ms : 5000L);
	curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, ms);
	curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->h, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(x->h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(x->h, CURLOPT_OPENSOCKETFUNCTION, open_cb);
	curl_easy_setopt(x->h, CURLOPT_OPENSOCKETDATA, x);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(x->h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	curl_easy_setopt(x->h, CURLOPT_XFERINFODATA, x);
	if (verb == VERB_POST) {
		curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	} else if (verb == VERB_DELETE) {
		curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	res = curl_easy_perform(x->h);
	if (x->status == 0)
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->mode == MODE_SSE && x->stop == STOP_NO && x->line.len == 0)
		sse_dispatch(x);	/* a last event whose blank line never came */
	curl_easy_cleanup(x->h);
	x->h = NULL;
	return res;
}

static void
xfer_init(struct xfer *x, struct mcp_http *t, long want, const struct mcp_http_io *io,
    size_t *stream_total)
{
	memset(x, 0, sizeof(*x));
	x->t = t;
	x->want = want;
	x->io = io;
	x->stream_total = stream_total;
	x->retry_ms = -1;
	abuf_init(&x->body, MCP_LINE_MAX);
	abuf_init(&x->line, MCP_LINE_MAX);
	abuf_init(&x->data, MCP_LINE_MAX);
	agentd_error_clear(&x->err);
}

static void
xfer_done(struct xfer *x)
{
	abuf_free(&x->body);
	abuf_free(&x->line);
	abuf_free(&x->data);
	json_decref(x->answer);
	x->answer = NULL;
}

/* The start of an error body, printable, for a message. */
static void
excerpt(const struct abuf *b, char *out, size_t n)
{
	size_t i, o = 0;

	for (i = 0; b->data && i < b->len && o + 1 < n && o < 200; i++)
		out[o++] = (b->data[i] >= 0x20 && b->data[i] < 0x7f) ? b->data[i] : ' ';
	out[o] = '\0';
}

/* A JSON body: the answer among one message or a batch; the rest to io. */
static int
read_body(struct xfer *x, struct agentd_error *err)
{
	json_t *v = x->body.len ? json_loadb(x->body.data, x->body.len, 0, NULL) : NULL;
	size_t i;
	json_t *e;

	if (json_is_object(v)) {
		take_message(x, v);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if (json_is_object(e))
				take_message(x, e);
	} else {
		json_decref(v);
		return agentd_seterr(err, AGENTD_EPROTO, x->body.len ?
		    "mcp %s: the server answered with a body that is not JSON" :
		    "mcp %s: the server answered with an empty body", x->t->name);
	}
	json_decref(v);
	return AGENTD_OK;
}

/* Wait ms before a reconnection, looking at the cancel flag. */
static int
pause_ms(long ms, double deadline, const struct mcp_http_io *io)
{
	double until = anum_mono_s() + ms / 1000.0;

	while (anum_mono_s() < until) {
		double left = until - anum_mono_s();

		if (io && io->cancelled && io->cancelled(io->ud))
			return AGENTD_ECANCELLED;
		if (anum_mono_s() >= deadline)
			return AGENTD_ETIMEOUT;
		usleep((useconds_t)((left > 0.02 ? 0.02 : left) * 1e6));
	}
	return AGENTD_OK;
}

int
mcp_http_post(struct mcp_http *t, json_t *msg, long id, double deadline,
    const struct mcp_http_io *io, json_t **answer, long *status, struct agentd_error *err)
{
	char *body = json_dumps(msg, JSON_COMPACT), last_id[EVENT_ID_MAX + 1] = "", ex[256];
	size_t stream_total = 0;
	long retry_ms = MCP_HTTP_RETRY_MS;
	int attempt, rc = AGENTD_OK;

	*status = 0;
	if (body == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, "out of memory");
	for (attempt = 0; ; attempt++) {
		struct xfer x;
		struct curl_slist *hdrs;
		int fail;
		CURLcode res;

		xfer_init(&x, t, id, io, &stream_total);
		hdrs = make_headers(t, attempt ? NULL : msg, attempt ? last_id : NULL, &fail);
		if (fail) {
			curl_slist_free_all(hdrs);
			xfer_done(&x);
			rc = agentd_seterr(err, AGENTD_ENOMEM, "out of memory");
			break;
		}
		res = exchange(&x, attempt ? VERB_GET : VERB_POST, body, hdrs, deadline);
		curl_slist_free_all(hdrs);
		*status = x.status;
		if (x.event_id[0])
			memcpy(last_id, x.event_id, sizeof(last_id));
		if (x.retry_ms >= 0)
			retry_ms = x.retry_ms;
		if (x.bad_sid) {
			rc = agentd_seterr(err, AGENTD_EPROTO, "mcp %s: the server sent an Mcp-Session-Id "
			    "that is empty, too long or not visible ASCII", t->name);
		} else if (x.status / 100 == 2 && x.sid[0] && t->session[0] == '\0') {
			memcpy(t->session, x.sid, sizeof(t->session));
		}
		if (rc != AGENTD_OK) {
			xfer_done(&x);
			break;
		}
		if (x.refused) {
			rc = agentd_seterr(err, AGENTD_EDENIED, "mcp %s: %s is not on this machine; "
			    "\"network\": true lets agentd reach it", t->name, t->url);
		} else if (x.stop == STOP_CANCELLED) {
			rc = agentd_seterr(err, AGENTD_ECANCELLED, "mcp %s: cancelled", t->name);
		} else if (x.stop == STOP_TOOBIG) {
			rc = agentd_seterr(err, AGENTD_ETOOBIG, "mcp %s: the answer is over %u bytes "
			    "(a message over %u)", t->name, MCP_HTTP_STREAM_MAX, MCP_LINE_MAX);
		} else if (x.stop == STOP_FAILED) {
			agentd_seterr(err, x.err.code, "%s", agentd_errmsg(&x.err));
			rc = x.err.code;
		} else if (x.stop == STOP_ANSWER) {
			*answer = json_incref(x.answer);
		} else if (res == CURLE_OPERATION_TIMEDOUT) {
			rc = agentd_seterr(err, AGENTD_ETIMEOUT, "mcp %s: no answer in time", t->name);
		} else if (x.status == 0) {
			rc = agentd_seterr(err, AGENTD_EIO, "mcp %s: %s: %s", t->name, t->url,
			    curl_easy_strerror(res));
		} else if (x.status / 100 == 2 && x.mode == MODE_SSE) {
			/* The stream ended, or was cut, before the answer. */
			if (id < 0) {
				/* a notification needs no answer */
			} else if (last_id[0] == '\0' || attempt >= MCP_HTTP_RECONNECTS) {
				rc = agentd_seterr(err, AGENTD_EPROTO, "mcp %s: the server closed the "
				    "stream before answering%s", t->name, last_id[0] ?
				    " and kept doing so on reconnection" : "");
			} else if ((rc = pause_ms(retry_ms, deadline, io)) != AGENTD_OK) {
				rc = agentd_seterr(err, rc, rc == AGENTD_ECANCELLED ? "mcp %s: cancelled" :
				    "mcp %s: no answer in time", t->name);
			} else {
				xfer_done(&x);
				continue;	/* GET with Last-Event-ID */
			}
		} else if (x.status / 100 == 2 && id >= 0) {
			if ((rc = read_body(&x, err)) == AGENTD_OK && x.stop == STOP_ANSWER)
				*answer = json_incref(x.answer);
			else if (rc == AGENTD_OK)
				rc = agentd_seterr(err, AGENTD_EPROTO, attempt ?
				    "mcp %s: the resumed stream ended before the answer" :
				    "mcp %s: the server's answer has no response with our id", t->name);
		} else if (x.status / 100 == 2) {
			/* a notification or a response: accepted */
		} else {
			json_t *v = x.body.len ? json_loadb(x.body.data, x.body.len, 0, NULL) : NULL;

			if (json_is_object(v) && json_is_object(json_object_get(v, "error")) &&
			    id >= 0 && attempt == 0) {
				*answer = v;	/* a JSON-RPC error: the caller reads its code */
			} else {
				json_decref(v);
				excerpt(&x.body, ex, sizeof(ex));
				if (attempt)
					rc = agentd_seterr(err, AGENTD_EPROTO, "mcp %s: the stream was cut and "
					    "resuming it failed (GET: HTTP %ld)", t->name, x.status);
				else if (x.status == 401 || x.status == 403)
					rc = agentd_seterr(err, AGENTD_EDENIED, "mcp %s: HTTP %ld: the server "
					    "refuses us (bearer_token_env names the token) %s", t->name,
					    x.status, ex);
				else if (x.status == 404 && t->session[0])
					rc = agentd_seterr(err, AGENTD_EPROTO, "mcp %s: the server ended the "
					    "session (HTTP 404)", t->name);
				else
					rc = agentd_seterr(err, AGENTD_EPROTO, "mcp %s: HTTP %ld %s", t->name,
					    x.status, ex);
			}
		}
		xfer_done(&x);
		break;
	}
	free(body);
	return rc;
}

void
mcp_http_free(struct mcp_http *t)
{
	if (t == NULL)
		return;
	if (t->session[0]) {	/* the server may free what it keeps for us */
		struct xfer x;
		struct curl_slist *hdrs;
		size_t total = 0;
		int fail;

		xfer_init(&x, t, -1, NULL, &total);
		hdrs = make_headers(t, NULL, NULL, &fail);
		if (!fail)
			(void)exchange(&x, VERB_DELETE, NULL, hdrs, anum_mono_s() + 1.0);
		curl_slist_free_all(hdrs);
		xfer_done(&x);
	}
	free(t->auth);
	free(t->url);
	free(t);
}
