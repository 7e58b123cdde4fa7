/*
 * util.h - small local-filesystem and option helpers shared by the mr
 * subcommands.
 */
#ifndef MR_UTIL_H
#define MR_UTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Map a whole file read-only. Returns the mapping (a static "" for an
 * empty file) with *len set, or NULL with errno set. */
char *util_map_file(const char *path, size_t *len);

/* Undo util_map_file(). NULL or an empty mapping is a no-op. */
void util_unmap(char *p, size_t len);

/* mkdir -p with mode 0755. 0 or -errno. */
int util_mkdir_p(const char *path);

/* rm -rf. 0 or -errno (a missing path is 0). */
int util_rm_rf(const char *path);

/* Write a file atomically (temp file, fsync, rename). 0 or -errno. */
int util_write_file(const char *path, const void *data, size_t len);

/* True if s is a safe file name component made of [A-Za-z0-9_.-]
 * (1..63 bytes, not starting with '.'). */
bool util_name_is_safe(const char *s);

/*
 * Job parameters: a NULL-terminated array of "NAME=VALUE" strings.
 * util_params_add() appends a copy of nv (reallocates: on success the
 * old pointer is dead) after checking its form; on a malformed nv it
 * returns NULL and the old array is still the caller's.
 */
char **util_params_add(char **params, const char *nv);

/* Params as a JSON object {"NAME": "VALUE"} (new reference). */
json_t *util_params_to_json(char *const *params);

/* Params from a JSON object of strings; NULL with -EINVAL if malformed
 * (an absent object gives an empty array). */
char **util_params_from_json(const json_t *obj, int *err);

void util_params_free(char **params);

/* Parse a decimal unsigned in [min, max]; false if malformed. */
bool util_parse_uint(const char *s, unsigned long long min,
		     unsigned long long max, unsigned long long *out);

/* Sleep up to ms milliseconds, in slices, returning early when *stop
 * turns true. */
void util_sleep_ms(long ms, const atomic_bool *stop);

#endif
