/*
 * json_writer.c - JSON text written straight into one growing buffer
 * (see json_writer.h).
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "json_writer.h"
#include "xmalloc.h"

#include "banned.h"

/* Longest text of a 64-bit integer: "-9223372036854775808". */
#define JW_INT_MAX 20

void json_writer_init(struct json_writer *w, size_t hint)
{
	w->cap = hint < 64 ? 64 : hint;
	w->buf = xmalloc(w->cap);
	w->buf[0] = '\0';
	w->len = 0;
	w->need_comma = false;
}

void json_writer_free(struct json_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

char *json_writer_take(struct json_writer *w, size_t *len)
{
	char *text = w->buf;

	*len = w->len;
	w->buf = NULL;
	w->len = w->cap = 0;
	return text;
}

/* Make room for "more" bytes and the NUL; returns where they go. */
static char *jw_room(struct json_writer *w, size_t more)
{
	size_t need = w->len + more + 1;

	if (need > w->cap) {
		while (w->cap < need)
			w->cap *= 2;
		w->buf = xrealloc(w->buf, w->cap);
	}
	return w->buf + w->len;
}

static void jw_put(struct json_writer *w, const char *s, size_t n)
{
	memcpy(jw_room(w, n), s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void jw_char(struct json_writer *w, char c)
{
	*jw_room(w, 1) = c;
	w->len++;
	w->buf[w->len] = '\0';
}

/* A new value or key starts here: separate it from the one before. */
static void jw_begin(struct json_writer *w)
{
	if (w->need_comma)
		jw_char(w, ',');
	w->need_comma = false;
}

void json_writer_open_object(struct json_writer *w)
{
	jw_begin(w);
	jw_char(w, '{');
}

void json_writer_close_object(struct json_writer *w)
{
	jw_char(w, '}');
	w->need_comma = true;
}

void json_writer_open_array(struct json_writer *w)
{
	jw_begin(w);
	jw_char(w, '[');
}

void json_writer_close_array(struct json_writer *w)
{
	jw_char(w, ']');
	w->need_comma = true;
}

/* s[0..n) between quotes, escaped as jansson escapes it (RFC 8259). */
static void jw_quoted(struct json_writer *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *run = p, *end = p + n;
	char esc[6] = { '\\', 'u', '0', '0', 0, 0 };

	jw_char(w, '"');
	for (; p < end; p++) {
		if (*p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		jw_put(w, (const char *)run, (size_t)(p - run));
		run = p + 1;
		switch (*p) {
		case '"': jw_put(w, "\\\"", 2); break;
		case '\\': jw_put(w, "\\\\", 2); break;
		case '\b': jw_put(w, "\\b", 2); break;
		case '\f': jw_put(w, "\\f", 2); break;
		case '\n': jw_put(w, "\\n", 2); break;
		case '\r': jw_put(w, "\\r", 2); break;
		case '\t': jw_put(w, "\\t", 2); break;
		default:
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0xf];
			jw_put(w, esc, sizeof(esc));
		}
	}
	jw_put(w, (const char *)run, (size_t)(p - run));
	jw_char(w, '"');
}

void json_writer_key(struct json_writer *w, const char *key)
{
	jw_begin(w);
	jw_quoted(w, key, strlen(key));
	jw_char(w, ':');
}

void json_writer_string(struct json_writer *w, const char *s)
{
	jw_begin(w);
	jw_quoted(w, s, strlen(s));
	w->need_comma = true;
}

/* Digits of v, most significant first, ending at "end". */
static char *jw_digits(uint64_t v, char *end)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

void json_writer_uint(struct json_writer *w, uint64_t v)
{
	char tmp[JW_INT_MAX + 1];
	char *end = tmp + sizeof(tmp), *start = jw_digits(v, end);

	jw_begin(w);
	jw_put(w, start, (size_t)(end - start));
	w->need_comma = true;
}

void json_writer_int(struct json_writer *w, int64_t v)
{
	char tmp[JW_INT_MAX + 1];
	char *end = tmp + sizeof(tmp), *start;
	/* The magnitude of INT64_MIN does not fit an int64_t. */
	uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	start = jw_digits(mag, end);
	if (v < 0)
		*--start = '-';
	jw_begin(w);
	jw_put(w, start, (size_t)(end - start));
	w->need_comma = true;
}

void json_writer_bool(struct json_writer *w, bool v)
{
	jw_begin(w);
	if (v)
		jw_put(w, "true", 4);
	else
		jw_put(w, "false", 5);
	w->need_comma = true;
}

/* A real as jansson writes it, through jansson (replies hardly have any). */
static void jw_real(struct json_writer *w, const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	jw_begin(w);
	if (text != NULL)
		jw_put(w, text, strlen(text));
	else
		jw_put(w, "null", 4);
	free(text);
	w->need_comma = true;
}

void json_writer_json(struct json_writer *w, const json_t *v)
{
	const char *key;
	size_t i;
	json_t *x;

	switch (v != NULL ? json_typeof(v) : JSON_NULL) {
	case JSON_OBJECT:
		json_writer_open_object(w);
		json_object_foreach ((json_t *)v, key, x) {
			json_writer_key(w, key);
			json_writer_json(w, x);
		}
		json_writer_close_object(w);
		break;
	case JSON_ARRAY:
		json_writer_open_array(w);
		json_array_foreach (v, i, x)
			json_writer_json(w, x);
		json_writer_close_array(w);
		break;
	case JSON_STRING: /* may hold NULs, written as \u0000 */
		jw_begin(w);
		jw_quoted(w, json_string_value(v), json_string_length(v));
		w->need_comma = true;
		break;
	case JSON_INTEGER:
		json_writer_int(w, (int64_t)json_integer_value(v));
		break;
	case JSON_REAL:
		jw_real(w, v);
		break;
	case JSON_TRUE:
		json_writer_bool(w, true);
		break;
	case JSON_FALSE:
		json_writer_bool(w, false);
		break;
	case JSON_NULL:
		jw_begin(w);
		jw_put(w, "null", 4);
		w->need_comma = true;
		break;
	}
}

char *json_writer_dump(const json_t *v, size_t *len)
{
	struct json_writer w;

	json_writer_init(&w, 512);
	json_writer_json(&w, v);
	return json_writer_take(&w, len);
}
