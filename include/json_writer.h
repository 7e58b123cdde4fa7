/*
 * json_writer.h - JSON text written straight into one growing buffer.
 *
 * For replies sent thousands of times a second (attributes, directory
 * listings): building a tree of json_t values, dumping it and freeing it
 * cost ~3 us per entry in masterd, mostly allocation; this writes the same
 * compact text (json_dumps(JSON_COMPACT) of the same fields in the same
 * order) with no allocation past the buffer's growth.
 *
 *   struct json_writer w;
 *   json_writer_init(&w, 256);
 *   json_writer_open_object(&w);
 *   json_writer_key(&w, "name");
 *   json_writer_string(&w, name);
 *   json_writer_close_object(&w);
 *   text = json_writer_take(&w, &len);   // malloc()ed, the caller's
 *
 * Commas are placed by the writer; the caller only keeps keys and values
 * in the right order and the brackets balanced. Strings must be valid
 * UTF-8 (names are checked when they enter the namespace): the writer
 * escapes quotes, backslashes and control characters and copies the rest.
 * Allocation failure is fatal, as everywhere else (xmalloc.h).
 */
#ifndef DFS_JSON_WRITER_H
#define DFS_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_writer {
	char *buf;        /* malloc()ed, NUL-terminated */
	size_t len;       /* bytes written, without the NUL */
	size_t cap;       /* bytes allocated */
	bool need_comma;  /* a value ended: the next key or value needs ',' */
};

/* Start an empty text with room for about "hint" bytes. */
void json_writer_init(struct json_writer *w, size_t hint);

/* Free the text (after json_writer_take(): nothing left to free). */
void json_writer_free(struct json_writer *w);

/* The text and its length; the writer is empty afterwards. */
char *json_writer_take(struct json_writer *w, size_t *len);

void json_writer_open_object(struct json_writer *w);
void json_writer_close_object(struct json_writer *w);
void json_writer_open_array(struct json_writer *w);
void json_writer_close_array(struct json_writer *w);

/* An object's key; its value is the next thing written. */
void json_writer_key(struct json_writer *w, const char *key);

void json_writer_string(struct json_writer *w, const char *s);
void json_writer_int(struct json_writer *w, int64_t v);
void json_writer_uint(struct json_writer *w, uint64_t v);
void json_writer_bool(struct json_writer *w, bool v);

/*
 * A jansson value, as json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)
 * writes it (keys in insertion order): for replies built as trees, whose
 * dump cost more than the walk (jansson formats every integer through
 * snprintf and every piece through a callback). NULL writes null.
 */
struct json_t;
void json_writer_json(struct json_writer *w, const struct json_t *v);

/* json_writer_json() of v alone: malloc()ed text, its length in *len. */
char *json_writer_dump(const struct json_t *v, size_t *len);

#endif
