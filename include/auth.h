/*
 * auth.h - the cluster secret, signed requests and chunk access tokens.
 *
 * Every program of a cluster reads one secret from a key file (a regular
 * file, mode 0600 or stricter, at least AUTH_SECRET_MIN bytes; trailing
 * white space is ignored; `auth_secret_generate()` or
 * `(umask 077; openssl rand -hex 32 > FILE)` makes one). Two 256-bit keys
 * are derived from it with HKDF-SHA256 under different labels: one signs
 * requests, the other chunk access tokens, so neither kind of MAC can be
 * passed off as the other. All cryptography is OpenSSL's.
 *
 * Signed requests. A client adds the header
 *
 *     X-DFS-Auth: v1 <unix_ms> <nonce_hex> <hmac_hex>
 *
 * with hmac_hex = lower-case hex of HMAC-SHA256(request key, M) and
 *
 *     M = METHOD "\n" URI "\n" hex(SHA-256(body)) "\n" unix_ms "\n" nonce_hex
 *
 * where URI is the request target exactly as sent (path and query string,
 * not decoded), unix_ms the sender's clock in decimal milliseconds and
 * nonce_hex 32 lower-case hex digits that the sender never used before
 * (random bits drawn at its start, its pid and a count). A server accepts
 * the request when the MAC matches, unix_ms lies within the allowed clock
 * skew of its own clock (default AUTH_SKEW_MS, either way) and the nonce
 * was not seen before within that window (struct auth_replay).
 *
 * A body of AUTH_KEYED_BODY_MIN bytes or more is signed with
 *
 *     X-DFS-Auth: v2 <unix_ms> <nonce_hex> <body_nonce_hex> <hmac_hex>
 *
 * and M = "v2\n" METHOD "\n" URI "\n" body_nonce_hex tag_hex "\n" unix_ms
 * "\n" nonce_hex, where tag is Poly1305(K, body) with the one-time key
 * K = HMAC-SHA256(request key, "dfs-body-v2\n" body_nonce), and
 * body_nonce is new like a nonce. The body nonce is apart from the
 * request's own so that a chunk server can forward a body it verified
 * under a signature of its own without hashing it again. The
 * signature does not name the server: a captured request could be
 * replayed once to another server of the cluster within the window; TLS
 * keeps captures from happening.
 *
 * Chunk access tokens. The master grants a client
 *
 *     <handle>.<mode>.<expiry_ms>.<hmac_hex>
 *
 * (decimal fields, enum auth_token_mode bits, expiry in milliseconds
 * since the epoch; hmac_hex over the text before the last '.' with the
 * token key). A chunk server checks it, from the X-DFS-Token header,
 * before any read or write of that handle. Whoever holds the cluster
 * secret can mint tokens; they carry the master's decision (this client
 * may touch this chunk until then), not a second secret.
 *
 * Errors (negative errno; auth_strerror() names them):
 *   -ENOKEY     no X-DFS-Auth header
 *   -EBADMSG    malformed header
 *   -ERANGE     timestamp outside the allowed skew, or older than what the
 *               replay cache can still vouch for (the sender just retries)
 *   -EACCES     bad signature; for tokens: malformed, bad MAC, another
 *               handle, or a mode the token does not grant
 *   -EALREADY   nonce seen before: a replayed request
 *   -ETIMEDOUT  token expired (reported only for tokens with a good MAC)
 *
 * Threads: a struct auth_key is immutable once made and may be used by any
 * number of threads; a struct auth_replay has its own lock.
 *
 * Calling sequence:
 *     auth_key_load(path, &key);                    at start-up
 *     client: auth_sign(key, "POST", uri, body, len, time_now_ms(), hdr);
 *     server: rp = auth_replay_new(0, 0);
 *             auth_verify(key, rp, method, uri, body, len, hdr, now);
 *     master: auth_token_make(key, handle, AUTH_TOKEN_READ, exp, tok);
 *     chunkd: auth_token_check(key, tok, handle, AUTH_TOKEN_READ, now);
 *     auth_replay_free(rp); auth_key_free(key);
 */
#ifndef DFS_AUTH_H
#define DFS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header carrying a request signature. */
#define AUTH_HEADER "X-DFS-Auth"

/* Header carrying a chunk access token. */
#define AUTH_TOKEN_HEADER "X-DFS-Token"

/* Buffer size for an X-DFS-Auth value, NUL included. */
#define AUTH_HEADER_MAX 192

/* Buffer size for a token, NUL included. */
#define AUTH_TOKEN_MAX 128

/* Shortest and longest secret accepted, in bytes. */
#define AUTH_SECRET_MIN 32
#define AUTH_SECRET_MAX 4096

/* Default allowed clock skew between signer and verifier. */
#define AUTH_SKEW_MS 60000

/* What a chunk access token allows. */
enum auth_token_mode {
	AUTH_TOKEN_READ = 1 << 0,
	AUTH_TOKEN_WRITE = 1 << 1,
};

struct auth_key;
struct auth_replay;

/*
 * Load the cluster secret from "path" and derive its keys into *out
 * (free with auth_key_free()). The file must be a regular file with no
 * group or other permission bits, holding AUTH_SECRET_MIN to
 * AUTH_SECRET_MAX bytes after trailing white space is cut. Returns 0, or
 * (after logging why, with the path) -EPERM when group or others may
 * access it, -EINVAL when it is not a regular file or its size is wrong,
 * or the negative errno of open()/read().
 */
int auth_key_load(const char *path, struct auth_key **out);

/*
 * Keys derived from a secret given in memory (tests, tools). Returns NULL
 * when len is outside AUTH_SECRET_MIN..AUTH_SECRET_MAX. The secret is
 * copied.
 */
struct auth_key *auth_key_from_secret(const void *secret, size_t len);

/* Wipe and free a key. NULL is a no-op. */
void auth_key_free(struct auth_key *key);

/*
 * Write a new random secret (32 bytes from RAND_bytes() as 64 hex digits
 * and a newline) to "path" with mode 0600, atomically: the file appears
 * complete or not at all. Never replaces a file: -EEXIST if "path"
 * exists. Returns 0 or a negative errno.
 */
int auth_secret_generate(const char *path);

/*
 * Sign a request: write the X-DFS-Auth value into out (AUTH_HEADER_MAX
 * bytes) for METHOD and URI (path with query string, as sent) and body
 * (may be NULL when len is 0), stamped now_ms. Returns 0, -EINVAL for an
 * empty method or URI, one containing CR or LF, or a negative now_ms,
 * -EIO if OpenSSL fails.
 */
int auth_sign(const struct auth_key *key, const char *method,
	      const char *uri, const void *body, size_t len, int64_t now_ms,
	      char *out);

/* Bytes of a body digest. */
#define AUTH_DIGEST_LEN 32

/*
 * Bodies of this many bytes or more are covered by a keyed digest: a
 * Poly1305 tag under a one-time key that HMAC-SHA256 derives from the
 * request key and a body nonce sent in the header ("v2" signatures).
 * Poly1305 runs about 7 times as fast as SHA-256 (with the CPU's SHA
 * instructions), and hashing bodies was a third of a chunk server's CPU
 * in sequential writes. Smaller bodies keep their SHA-256 ("v1"), which
 * costs less than setting up the one-time key.
 */
#define AUTH_KEYED_BODY_MIN (16u * 1024)

/*
 * The digest of a request body that a signature covers: its SHA-256, or
 * for a keyed digest the body nonce (16 bytes) then the Poly1305 tag (16
 * bytes). A keyed digest holds only for the nonce it names, which the
 * signature carries.
 */
struct auth_digest {
	unsigned char bytes[AUTH_DIGEST_LEN];
	bool keyed;
};

/*
 * A signer's digest of a body, into *out: keyed (with a new body nonce)
 * when len >= AUTH_KEYED_BODY_MIN. 0 or -EIO. With it,
 * auth_sign_digest() and auth_verify_digest() do what auth_sign() and
 * auth_verify() do without reading the body again: a server that
 * forwards a body it verified signs the copy with the digest it computed.
 */
int auth_body_digest(const struct auth_key *key, const void *body, size_t len,
		     struct auth_digest *out);

int auth_sign_digest(const struct auth_key *key, const char *method,
		     const char *uri, const struct auth_digest *digest,
		     int64_t now_ms, char *out);

/*
 * A replay cache: remembers the nonce of every accepted request while its
 * timestamp is within the window. skew_ms 0 means AUTH_SKEW_MS;
 * max_entries 0 means 262,144 (about 9 MiB at most, allocated as
 * needed). When it is full of live nonces the oldest is dropped and
 * requests stamped at or before that one's time are refused (-ERANGE)
 * from then on, so a replay is never accepted, whatever the load. Never
 * NULL.
 */
struct auth_replay *auth_replay_new(int64_t skew_ms, size_t max_entries);

/* Free a replay cache. NULL is a no-op. */
void auth_replay_free(struct auth_replay *rp);

/*
 * Cheap check before the body arrives: "hdr" (may be NULL) is well formed
 * and its timestamp within the skew of now_ms (rp may be NULL: default
 * skew). 0, -ENOKEY, -EBADMSG or -ERANGE. A pass proves nothing about
 * the sender; auth_verify() does.
 */
int auth_precheck(const struct auth_replay *rp, const char *hdr,
		  int64_t now_ms);

/*
 * Verify a request's X-DFS-Auth value "hdr" (may be NULL) against METHOD,
 * URI and body. On success the nonce is recorded in rp, so the same
 * request is refused the next time. rp may be NULL (default skew, no
 * replay check; tests and tools only). Returns 0, -ENOKEY, -EBADMSG,
 * -ERANGE, -EACCES, -EALREADY, or -EIO if OpenSSL fails.
 */
int auth_verify(const struct auth_key *key, struct auth_replay *rp,
		const char *method, const char *uri, const void *body,
		size_t len, const char *hdr, int64_t now_ms);
int auth_verify_digest(const struct auth_key *key, struct auth_replay *rp,
		       const char *method, const char *uri,
		       const struct auth_digest *digest, const char *hdr,
		       int64_t now_ms);
/* auth_verify() that also gives the digest it computed, of the kind the
 * header announces, for signing a forwarded copy (valid on success). */
int auth_verify_body(const struct auth_key *key, struct auth_replay *rp,
		     const char *method, const char *uri, const void *body,
		     size_t len, const char *hdr, int64_t now_ms,
		     struct auth_digest *out);

/*
 * Make a chunk access token for "handle" granting "mode" (a non-empty set
 * of enum auth_token_mode bits) until expiry_ms, into out
 * (AUTH_TOKEN_MAX bytes). 0, -EINVAL (bad mode, negative expiry) or -EIO.
 */
int auth_token_make(const struct auth_key *key, uint64_t handle,
		    unsigned mode, int64_t expiry_ms, char *out);

/*
 * Check that "token" (may be NULL) was made with this key for "handle",
 * grants every bit of needed_mode and has not expired at now_ms (a token
 * is good up to and including its expiry millisecond). 0, -EACCES or
 * -ETIMEDOUT (see the top of this file).
 */
int auth_token_check(const struct auth_key *key, const char *token,
		     uint64_t handle, unsigned needed_mode, int64_t now_ms);

/* A short lower-case description of an auth error code ("bad signature"). */
const char *auth_strerror(int err);

#endif
