/*
 * auth.c - the cluster secret, signed requests and chunk access tokens
 * (see auth.h).
 *
 * OpenSSL does all the cryptography: HKDF derives the two keys, HMAC and
 * SHA-256 come from EVP, randomness from RAND_bytes(), MACs are compared
 * with CRYPTO_memcmp(). The HMAC and SHA-256 implementations are fetched
 * once per process; each thread keeps its own EVP_MAC_CTX per key
 * (auth_hmac_ctx()), so keys stay read-only and any thread may sign or
 * verify.
 *
 * Parsers accept one canonical spelling only (decimal without leading
 * zeros, lower-case hex, single spaces or dots), so a header or token has
 * exactly one text that verifies.
 *
 * The replay cache is a ring of nonces in arrival order with a chained
 * hash index over it. Expired nonces leave from the head; when the ring
 * is full and cannot grow, the oldest live nonce leaves too and its time
 * becomes the floor below which nothing is accepted any more (see
 * auth_replay_new() in auth.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "auth.h"
#include "log.h"
#include "xmalloc.h"

#include "banned.h"

/* Bytes of each derived key, of a MAC and of a SHA-256 digest. */
#define AUTH_KEY_LEN 32
#define AUTH_MAC_LEN 32

/* Bytes of randomness in a nonce and in a generated secret. */
#define AUTH_NONCE_LEN 16
#define AUTH_GEN_LEN 32

/* Bytes of a Poly1305 tag: the rest of a keyed digest after its nonce. */
#define AUTH_TAG_LEN (AUTH_DIGEST_LEN - AUTH_NONCE_LEN)

/* Most decimal digits of a timestamp, handle or expiry. */
#define AUTH_DEC_MAX 20

/* Replay cache: first ring size, smallest limit, default limit. */
#define AUTH_REPLAY_INIT 1024u
#define AUTH_REPLAY_MIN 16u
#define AUTH_REPLAY_DEFAULT (1u << 18)

/* No slot: end of a hash chain. */
#define AUTH_NIL UINT32_MAX

struct auth_key {
	unsigned char req_key[AUTH_KEY_LEN]; /* signs requests */
	unsigned char tok_key[AUTH_KEY_LEN]; /* signs chunk tokens */
};

/* One remembered nonce. */
struct auth_nonce {
	unsigned char nonce[AUTH_NONCE_LEN];
	int64_t ts_ms;                   /* timestamp of its request */
	uint32_t next;                   /* next slot in its bucket or NIL */
};

/*
 * The replay cache. "lock" guards every field but skew_ms and max,
 * which never change.
 */
struct auth_replay {
	pthread_mutex_t lock;
	int64_t skew_ms;                 /* allowed clock skew */
	size_t max;                      /* most nonces kept (power of 2) */
	struct auth_nonce *ring;         /* cap slots, oldest at head */
	uint32_t *buckets;               /* 2 * cap chain heads */
	size_t cap;                      /* slots in ring (power of 2) */
	size_t head;                     /* slot of the oldest nonce */
	size_t count;                    /* nonces in the ring */
	int64_t floor_ms;                /* stamps <= this are refused */
	uint64_t seed;                   /* hash seed, random */
};

/* A parsed X-DFS-Auth value; the text fields point into the header. */
struct auth_sig {
	bool keyed;			 /* "v2": a keyed body digest */
	int64_t ts_ms;                   /* timestamp */
	const char *ts;                  /* its decimal text */
	size_t ts_len;                   /* length of that text */
	const char *nonce_hex;           /* AUTH_NONCE_LEN * 2 hex digits */
	const char *mac_hex;             /* AUTH_MAC_LEN * 2 hex digits */
	unsigned char nonce[AUTH_NONCE_LEN]; /* decoded nonce */
	unsigned char body_nonce[AUTH_NONCE_LEN]; /* "v2" only */
};

/* One piece of a MAC's input. */
struct auth_part {
	const void *p;
	size_t n;
};

static pthread_once_t auth_once = PTHREAD_ONCE_INIT;
static EVP_MAC *auth_hmac_impl;      /* HMAC, fetched once */
static EVP_MD *auth_sha256_impl;     /* SHA-256, fetched once */
static EVP_MAC *auth_poly1305_impl;  /* Poly1305, fetched once */

static const char auth_hexdigits[] = "0123456789abcdef";

/*
 * Nonces: 4 random bytes drawn once, this process's pid, then a count. A
 * nonce only has to be new (the MAC covers it, so it needs no secrecy): a
 * count never repeats within a process, the pid keeps the processes of a
 * machine apart (a forked child, whose count goes on from its parent's,
 * writes its own), the random bytes those of different machines. Fresh
 * randomness per request cost more than the request's MAC.
 */
static unsigned char auth_nonce_prefix[AUTH_NONCE_LEN / 2];
static _Atomic uint64_t auth_nonce_count;

static pthread_key_t auth_ctx_key;   /* struct auth_ctx_cache */

static void auth_ctx_cache_free(void *p);

/* The prefix's pid field; also run in a forked child (async-signal-safe
 * only). */
static void auth_nonce_set_pid(void)
{
	uint32_t pid = (uint32_t)getpid();

	memcpy(auth_nonce_prefix + 4, &pid, sizeof(pid));
}

/* Fetch the algorithms once; nothing works without them. */
static void auth_fetch(void)
{
	auth_hmac_impl = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	auth_sha256_impl = EVP_MD_fetch(NULL, OSSL_DIGEST_NAME_SHA2_256, NULL);
	auth_poly1305_impl = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_POLY1305, NULL);
	if (auth_hmac_impl == NULL || auth_sha256_impl == NULL ||
	    auth_poly1305_impl == NULL)
		fatalx("OpenSSL lacks HMAC, SHA-256 or Poly1305");
	if (RAND_bytes(auth_nonce_prefix, 4) != 1)
		fatalx("OpenSSL has no randomness for nonces");
	auth_nonce_set_pid();
	if (pthread_atfork(NULL, NULL, auth_nonce_set_pid) != 0 ||
	    pthread_key_create(&auth_ctx_key, auth_ctx_cache_free) != 0)
		fatalx("cannot set up request signing");
}

/* A nonce never used before by any process (see auth_nonce_prefix). */
static void auth_nonce(unsigned char *nonce)
{
	uint64_t n = atomic_fetch_add(&auth_nonce_count, 1);
	size_t half = sizeof(auth_nonce_prefix);

	memcpy(nonce, auth_nonce_prefix, half);
	for (size_t i = 0; i < AUTH_NONCE_LEN - half; i++)
		nonce[half + i] = (unsigned char)(n >> (8 * i));
}

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
static void auth_hex(const unsigned char *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = auth_hexdigits[in[i] >> 4];
		out[2 * i + 1] = auth_hexdigits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* Value of a lower-case hex digit, or -1. */
static int auth_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode exactly 2n lower-case hex digits; false if any is not one. */
static bool auth_unhex(const char *s, size_t n, unsigned char *out)
{
	int hi, lo;
	size_t i;

	for (i = 0; i < n; i++) {
		hi = auth_hexval(s[2 * i]);
		lo = hi < 0 ? -1 : auth_hexval(s[2 * i + 1]);
		if (lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/*
 * Parse a canonical unsigned decimal (no sign, no leading zero unless it
 * is "0") ending at "end" and no larger than max. Returns the character
 * after "end", or NULL.
 */
static const char *auth_parse_dec(const char *s, char end, uint64_t max,
				  uint64_t *out)
{
	uint64_t v = 0;
	unsigned d;
	size_t n;

	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++) {
		d = (unsigned)(s[n] - '0');
		if (n >= AUTH_DEC_MAX || d > max || v > (max - d) / 10)
			return NULL;
		v = v * 10 + d;
	}
	if (n == 0 || s[n] != end || (n > 1 && s[0] == '0'))
		return NULL;
	*out = v;
	return s + n + 1;
}

/*
 * A thread's HMAC contexts, one per key it used last (a process has two
 * keys, request and token, per secret). Setting a key up (the digest
 * looked up by name, the padded key hashed) costs more than the MAC of a
 * request; a context set up once restarts with the same key for free.
 */
#define AUTH_CTX_SLOTS 4

struct auth_ctx_slot {
	unsigned char key[AUTH_KEY_LEN];
	EVP_MAC_CTX *ctx;               /* NULL: slot unused */
};

struct auth_ctx_cache {
	struct auth_ctx_slot slot[AUTH_CTX_SLOTS];
	unsigned next;                  /* slot to reuse when all are set */
	EVP_MAC_CTX *poly1305;		/* re-keyed for every body; or NULL */
};

static void auth_ctx_cache_free(void *p)
{
	struct auth_ctx_cache *cc = p;

	for (int i = 0; i < AUTH_CTX_SLOTS; i++)
		EVP_MAC_CTX_free(cc->slot[i].ctx);
	EVP_MAC_CTX_free(cc->poly1305);
	OPENSSL_cleanse(cc, sizeof(*cc));
	free(cc);
}

/* A context of this thread set up with "key", ready for updates; NULL
 * if OpenSSL fails. */
/* This thread's context cache, made on first use; NULL if it cannot be
 * kept. */
static struct auth_ctx_cache *auth_ctx_cache(void)
{
	struct auth_ctx_cache *cc = pthread_getspecific(auth_ctx_key);

	if (cc == NULL) {
		cc = xcalloc(1, sizeof(*cc));
		if (pthread_setspecific(auth_ctx_key, cc) != 0) {
			free(cc);
			return NULL;
		}
	}
	return cc;
}

static EVP_MAC_CTX *auth_hmac_ctx(const unsigned char *key)
{
	static char digest[] = OSSL_DIGEST_NAME_SHA2_256;
	struct auth_ctx_cache *cc = auth_ctx_cache();
	struct auth_ctx_slot *sl;
	OSSL_PARAM params[2];
	int i;

	if (cc == NULL)
		return NULL;
	for (i = 0; i < AUTH_CTX_SLOTS; i++) {
		sl = &cc->slot[i];
		if (sl->ctx != NULL &&
		    CRYPTO_memcmp(sl->key, key, AUTH_KEY_LEN) == 0)
			return EVP_MAC_init(sl->ctx, NULL, 0, NULL) == 1
				       ? sl->ctx
				       : NULL;
	}
	sl = &cc->slot[cc->next++ % AUTH_CTX_SLOTS];
	EVP_MAC_CTX_free(sl->ctx);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((sl->ctx = EVP_MAC_CTX_new(auth_hmac_impl)) == NULL)
		return NULL;
	if (EVP_MAC_init(sl->ctx, key, AUTH_KEY_LEN, params) != 1) {
		EVP_MAC_CTX_free(sl->ctx);
		sl->ctx = NULL;
		return NULL;
	}
	memcpy(sl->key, key, AUTH_KEY_LEN);
	return sl->ctx;
}

/* HMAC-SHA256 of the concatenated parts under a 32-byte key. */
static int auth_hmac(const unsigned char *key, const struct auth_part *parts,
		     size_t nparts, unsigned char *mac)
{
	EVP_MAC_CTX *ctx;
	size_t i, outl = 0;

	pthread_once(&auth_once, auth_fetch);
	if ((ctx = auth_hmac_ctx(key)) == NULL)
		return -EIO;
	for (i = 0; i < nparts; i++)
		if (EVP_MAC_update(ctx, parts[i].p, parts[i].n) != 1)
			return -EIO;
	if (EVP_MAC_final(ctx, mac, &outl, AUTH_MAC_LEN) != 1 ||
	    outl != AUTH_MAC_LEN)
		return -EIO;
	return 0;
}

/* One 32-byte key from the secret with HKDF-SHA256 under "label". */
static int auth_derive(const void *secret, size_t len, const char *label,
		       unsigned char *out)
{
	static char digest[] = OSSL_DIGEST_NAME_SHA2_256;
	static unsigned char salt[] = "dfs cluster secret";
	OSSL_PARAM params[5];
	EVP_KDF_CTX *ctx = NULL;
	EVP_KDF *kdf;
	int r = -EIO;

	if ((kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL)) == NULL)
		return -EIO;
	ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (ctx == NULL)
		return -ENOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     digest, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						      (void *)secret, len);
	params[2] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_SALT, salt, sizeof(salt) - 1);
	params[3] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_INFO, (void *)label, strlen(label));
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, AUTH_KEY_LEN, params) == 1)
		r = 0;
	EVP_KDF_CTX_free(ctx);
	return r;
}

struct auth_key *auth_key_from_secret(const void *secret, size_t len)
{
	struct auth_key *key;

	if (secret == NULL || len < AUTH_SECRET_MIN || len > AUTH_SECRET_MAX)
		return NULL;
	key = xcalloc(1, sizeof(*key));
	if (auth_derive(secret, len, "dfs request auth v1", key->req_key) != 0 ||
	    auth_derive(secret, len, "dfs chunk token v1", key->tok_key) != 0) {
		auth_key_free(key);
		return NULL;
	}
	return key;
}

void auth_key_free(struct auth_key *key)
{
	if (key == NULL)
		return;
	OPENSSL_cleanse(key, sizeof(*key));
	free(key);
}

/* Read at most cap bytes of an open file; bytes read or negative errno. */
static ssize_t auth_read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap) {
		n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Check type and permissions of an open key file; logs why not. */
static int auth_check_file(int fd, const char *path)
{
	struct stat st;
	int r;

	if (fstat(fd, &st) != 0) {
		r = -errno;
		log_error("cannot stat secret file '%s'", path);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		log_errorx("secret file '%s' is not a regular file", path);
		return -EINVAL;
	}
	if ((st.st_mode & 077) != 0) {
		log_errorx("secret file '%s' has mode %04o: group and others "
			   "must have no access (chmod 600)",
			   path, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int auth_key_load(const char *path, struct auth_key **out)
{
	char *buf = xmalloc(AUTH_SECRET_MAX + 2);
	ssize_t n = 0;
	int fd, r;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		r = -errno;
		log_error("cannot open secret file '%s'", path);
		goto out;
	}
	if ((r = auth_check_file(fd, path)) != 0)
		goto out;
	if ((n = auth_read_all(fd, buf, AUTH_SECRET_MAX + 1)) < 0) {
		r = (int)n;
		errno = -r;
		log_error("cannot read secret file '%s'", path);
		goto out;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	if (n < AUTH_SECRET_MIN || n > AUTH_SECRET_MAX) {
		log_errorx("secret file '%s' must hold %d to %d bytes",
			   path, AUTH_SECRET_MIN, AUTH_SECRET_MAX);
		r = -EINVAL;
		goto out;
	}
	if ((*out = auth_key_from_secret(buf, (size_t)n)) == NULL) {
		log_errorx("cannot derive keys from secret file '%s'", path);
		r = -EIO;
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	OPENSSL_cleanse(buf, AUTH_SECRET_MAX + 2);
	free(buf);
	return r;
}

/* Write all of buf to fd; 0 or negative errno. */
static int auth_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync the directory holding "path", so a new name in it is durable. */
static void auth_sync_dir(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int fd;

	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	fd = open(slash != NULL ? dir : ".", O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

int auth_secret_generate(const char *path)
{
	unsigned char raw[AUTH_GEN_LEN];
	char text[AUTH_GEN_LEN * 2 + 2];
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	int fd = -1, r;

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		r = -EIO;
		goto out;
	}
	auth_hex(raw, sizeof(raw), text);
	text[AUTH_GEN_LEN * 2] = '\n';
	text[AUTH_GEN_LEN * 2 + 1] = '\0';
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	/* The umask may only have removed bits; make it exactly 0600. */
	if (fchmod(fd, 0600) != 0) {
		r = -errno;
		goto out_unlink;
	}
	if ((r = auth_write_all(fd, text, strlen(text))) != 0)
		goto out_unlink;
	if (fsync(fd) != 0) {
		r = -errno;
		goto out_unlink;
	}
	/* link() never replaces an existing secret, unlike rename(). */
	if (link(tmp, path) != 0) {
		r = -errno;
		goto out_unlink;
	}
	auth_sync_dir(path);
	r = 0;
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(text, sizeof(text));
	free(tmp);
	return r;
}

/* True if s is non-empty and holds no CR or LF. */
static bool auth_line_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && strpbrk(s, "\r\n") == NULL;
}

/*
 * The Poly1305 tag of a body under the one-time key of body_nonce (see
 * auth.h), into tag (AUTH_TAG_LEN bytes). A body nonce is never used for
 * two bodies, so neither is its key, as Poly1305 requires.
 */
static int auth_body_tag(const struct auth_key *key,
			 const unsigned char *body_nonce, const void *body,
			 size_t len, unsigned char *tag)
{
	struct auth_part parts[2] = { { "dfs-body-v2\n", 12 },
				      { body_nonce, AUTH_NONCE_LEN } };
	unsigned char one_time[AUTH_MAC_LEN];
	struct auth_ctx_cache *cc;
	size_t outl = 0;
	int r;

	if ((r = auth_hmac(key->req_key, parts, 2, one_time)) != 0)
		return r;
	r = -EIO;
	if ((cc = auth_ctx_cache()) == NULL)
		goto out;
	if (cc->poly1305 == NULL &&
	    (cc->poly1305 = EVP_MAC_CTX_new(auth_poly1305_impl)) == NULL)
		goto out;
	if (EVP_MAC_init(cc->poly1305, one_time, sizeof(one_time), NULL) == 1 &&
	    EVP_MAC_update(cc->poly1305, len > 0 ? body : "", len) == 1 &&
	    EVP_MAC_final(cc->poly1305, tag, &outl, AUTH_TAG_LEN) == 1 &&
	    outl == AUTH_TAG_LEN)
		r = 0;
out:
	OPENSSL_cleanse(one_time, sizeof(one_time));
	return r;
}

/* A keyed digest: body_nonce, then the body's tag under it. */
static int auth_keyed_digest(const struct auth_key *key,
			     const unsigned char *body_nonce, const void *body,
			     size_t len, struct auth_digest *out)
{
	out->keyed = true;
	memcpy(out->bytes, body_nonce, AUTH_NONCE_LEN);
	return auth_body_tag(key, body_nonce, body, len,
			     out->bytes + AUTH_NONCE_LEN);
}

/* The SHA-256 of a body. */
static int auth_sha256_digest(const void *body, size_t len,
			      struct auth_digest *out)
{
	out->keyed = false;
	if (EVP_Digest(len > 0 ? body : "", len, out->bytes, NULL,
		       auth_sha256_impl, NULL) != 1)
		return -EIO;
	return 0;
}

int auth_body_digest(const struct auth_key *key, const void *body, size_t len,
		     struct auth_digest *out)
{
	unsigned char body_nonce[AUTH_NONCE_LEN];

	pthread_once(&auth_once, auth_fetch);
	if (len < AUTH_KEYED_BODY_MIN)
		return auth_sha256_digest(body, len, out);
	auth_nonce(body_nonce);
	return auth_keyed_digest(key, body_nonce, body, len, out);
}

/*
 * The request MAC, as lower-case hex into mac_hex (65 bytes), over
 * method, uri, the body's digest and the stamp and nonce texts; a keyed
 * digest's MAC starts with "v2", so neither kind passes for the other.
 */
static int auth_request_mac(const struct auth_key *key, const char *method,
			    const char *uri, const struct auth_digest *digest,
			    const char *ts, size_t ts_len,
			    const char *nonce_hex, char *mac_hex)
{
	unsigned char mac[AUTH_MAC_LEN];
	char digest_hex[AUTH_DIGEST_LEN * 2 + 1];
	struct auth_part parts[10] = {
		{ "v2\n", 3 }, { method, strlen(method) },
		{ "\n", 1 },   { uri, strlen(uri) },
		{ "\n", 1 },   { digest_hex, AUTH_DIGEST_LEN * 2 },
		{ "\n", 1 },   { ts, ts_len },
		{ "\n", 1 },   { nonce_hex, AUTH_NONCE_LEN * 2 },
	};
	const struct auth_part *from = digest->keyed ? parts : parts + 1;
	int r;

	auth_hex(digest->bytes, AUTH_DIGEST_LEN, digest_hex);
	if ((r = auth_hmac(key->req_key, from, (size_t)(parts + 10 - from),
			   mac)) != 0)
		return r;
	auth_hex(mac, sizeof(mac), mac_hex);
	return 0;
}

int auth_sign(const struct auth_key *key, const char *method,
	      const char *uri, const void *body, size_t len, int64_t now_ms,
	      char *out)
{
	struct auth_digest digest;
	int r;

	if ((r = auth_body_digest(key, body, len, &digest)) != 0)
		return r;
	return auth_sign_digest(key, method, uri, &digest, now_ms, out);
}

int auth_sign_digest(const struct auth_key *key, const char *method,
		     const char *uri, const struct auth_digest *digest,
		     int64_t now_ms, char *out)
{
	unsigned char nonce[AUTH_NONCE_LEN];
	char nonce_hex[AUTH_NONCE_LEN * 2 + 1];
	char body_nonce_hex[AUTH_NONCE_LEN * 2 + 1];
	char mac_hex[AUTH_MAC_LEN * 2 + 1];
	char ts[AUTH_DEC_MAX + 1];
	int r;

	if (!auth_line_ok(method) || !auth_line_ok(uri) || now_ms < 0)
		return -EINVAL;
	pthread_once(&auth_once, auth_fetch);
	auth_nonce(nonce);
	auth_hex(nonce, sizeof(nonce), nonce_hex);
	snprintf(ts, sizeof(ts), "%" PRId64, now_ms);
	if ((r = auth_request_mac(key, method, uri, digest, ts, strlen(ts),
				  nonce_hex, mac_hex)) != 0)
		return r;
	if (!digest->keyed) {
		snprintf(out, AUTH_HEADER_MAX, "v1 %s %s %s", ts, nonce_hex,
			 mac_hex);
		return 0;
	}
	auth_hex(digest->bytes, AUTH_NONCE_LEN, body_nonce_hex);
	snprintf(out, AUTH_HEADER_MAX, "v2 %s %s %s %s", ts, nonce_hex,
		 body_nonce_hex, mac_hex);
	return 0;
}

/* Parse a nonce's hex digits and the space after them at p; the text
 * after, or NULL. */
static const char *auth_parse_nonce(const char *p, unsigned char *nonce)
{
	if (strnlen(p, AUTH_NONCE_LEN * 2 + 1) != AUTH_NONCE_LEN * 2 + 1 ||
	    p[AUTH_NONCE_LEN * 2] != ' ' ||
	    !auth_unhex(p, AUTH_NONCE_LEN, nonce))
		return NULL;
	return p + AUTH_NONCE_LEN * 2 + 1;
}

/* Parse "v1 <ts> <nonce_hex> <mac_hex>" or "v2 <ts> <nonce_hex>
 * <body_nonce_hex> <mac_hex>" exactly. 0, -ENOKEY, -EBADMSG. */
static int auth_sig_parse(const char *hdr, struct auth_sig *sig)
{
	const char *p;
	uint64_t ts;

	if (hdr == NULL)
		return -ENOKEY;
	if (strnlen(hdr, AUTH_HEADER_MAX) >= AUTH_HEADER_MAX ||
	    (strncmp(hdr, "v1 ", 3) != 0 && strncmp(hdr, "v2 ", 3) != 0))
		return -EBADMSG;
	sig->keyed = hdr[1] == '2';
	sig->ts = hdr + 3;
	if ((p = auth_parse_dec(sig->ts, ' ', INT64_MAX, &ts)) == NULL)
		return -EBADMSG;
	sig->ts_ms = (int64_t)ts;
	sig->ts_len = (size_t)(p - 1 - sig->ts);
	sig->nonce_hex = p;
	if ((p = auth_parse_nonce(p, sig->nonce)) == NULL ||
	    (sig->keyed && (p = auth_parse_nonce(p, sig->body_nonce)) == NULL))
		return -EBADMSG;
	sig->mac_hex = p;
	if (strlen(sig->mac_hex) != AUTH_MAC_LEN * 2)
		return -EBADMSG;
	for (p = sig->mac_hex; *p != '\0'; p++)
		if (auth_hexval(*p) < 0)
			return -EBADMSG;
	return 0;
}

/* Allowed skew of a replay cache, or the default. */
static int64_t auth_skew(const struct auth_replay *rp)
{
	return rp != NULL ? rp->skew_ms : AUTH_SKEW_MS;
}

/* True if ts lies within skew of now. */
static bool auth_in_window(int64_t ts, int64_t now, int64_t skew)
{
	return ts >= now - skew && ts <= now + skew;
}

int auth_precheck(const struct auth_replay *rp, const char *hdr,
		  int64_t now_ms)
{
	struct auth_sig sig;
	int r;

	if ((r = auth_sig_parse(hdr, &sig)) != 0)
		return r;
	if (!auth_in_window(sig.ts_ms, now_ms, auth_skew(rp)))
		return -ERANGE;
	return 0;
}

/* Bucket of a nonce in a table of nb (a power of 2) buckets. */
static size_t auth_bucket(const struct auth_replay *rp,
			  const unsigned char *nonce, size_t nb)
{
	uint64_t a, b, h;

	memcpy(&a, nonce, sizeof(a));
	memcpy(&b, nonce + sizeof(a), sizeof(b));
	h = (a ^ rp->seed) * 0x9e3779b97f4a7c15ULL;
	h ^= (b + (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return (size_t)(h & (nb - 1));
}

/* True if the nonce is in the cache. */
static bool auth_replay_has(const struct auth_replay *rp,
			    const unsigned char *nonce)
{
	uint32_t s = rp->buckets[auth_bucket(rp, nonce, 2 * rp->cap)];

	for (; s != AUTH_NIL; s = rp->ring[s].next)
		if (memcmp(rp->ring[s].nonce, nonce, AUTH_NONCE_LEN) == 0)
			return true;
	return false;
}

/* Put ring slot s at the front of its bucket's chain. */
static void auth_replay_link(struct auth_replay *rp, size_t s)
{
	size_t b = auth_bucket(rp, rp->ring[s].nonce, 2 * rp->cap);

	rp->ring[s].next = rp->buckets[b];
	rp->buckets[b] = (uint32_t)s;
}

/* Drop the oldest nonce; its stamp raises the floor. */
static void auth_replay_pop(struct auth_replay *rp)
{
	struct auth_nonce *e = &rp->ring[rp->head];
	uint32_t *link = &rp->buckets[auth_bucket(rp, e->nonce, 2 * rp->cap)];

	while (*link != (uint32_t)rp->head)
		link = &rp->ring[*link].next;
	*link = e->next;
	if (e->ts_ms > rp->floor_ms)
		rp->floor_ms = e->ts_ms;
	rp->head = (rp->head + 1) & (rp->cap - 1);
	rp->count--;
}

/* Double the ring, keeping arrival order. 0 or -ENOMEM. */
static int auth_replay_grow(struct auth_replay *rp)
{
	size_t ncap = rp->cap * 2, i;
	struct auth_nonce *nring = NULL;
	uint32_t *nbuckets = NULL;

	nring = malloc(ncap * sizeof(*nring));
	nbuckets = malloc(2 * ncap * sizeof(*nbuckets));
	if (nring == NULL || nbuckets == NULL) {
		free(nring);
		free(nbuckets);
		return -ENOMEM;
	}
	for (i = 0; i < rp->count; i++)
		nring[i] = rp->ring[(rp->head + i) & (rp->cap - 1)];
	free(rp->ring);
	free(rp->buckets);
	rp->ring = nring;
	rp->buckets = nbuckets;
	rp->cap = ncap;
	rp->head = 0;
	memset(rp->buckets, 0xff, 2 * ncap * sizeof(*nbuckets));
	for (i = 0; i < rp->count; i++)
		auth_replay_link(rp, i);
	return 0;
}

/* Allocate ring and buckets of a new cache. */
static void auth_replay_alloc(struct auth_replay *rp, size_t cap)
{
	rp->cap = cap;
	rp->ring = xcalloc(cap, sizeof(*rp->ring));
	rp->buckets = xmalloc(2 * cap * sizeof(*rp->buckets));
	memset(rp->buckets, 0xff, 2 * cap * sizeof(*rp->buckets));
}

struct auth_replay *auth_replay_new(int64_t skew_ms, size_t max_entries)
{
	struct auth_replay *rp = xcalloc(1, sizeof(*rp));
	size_t max = AUTH_REPLAY_MIN;

	if (max_entries == 0)
		max_entries = AUTH_REPLAY_DEFAULT;
	while (max < max_entries && max < ((size_t)1 << 30))
		max *= 2;
	pthread_mutex_init(&rp->lock, NULL);
	rp->skew_ms = skew_ms > 0 ? skew_ms : AUTH_SKEW_MS;
	rp->max = max;
	rp->floor_ms = -1;
	if (RAND_bytes((unsigned char *)&rp->seed, sizeof(rp->seed)) != 1)
		rp->seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL;
	auth_replay_alloc(rp, max < AUTH_REPLAY_INIT ? max : AUTH_REPLAY_INIT);
	return rp;
}

void auth_replay_free(struct auth_replay *rp)
{
	if (rp == NULL)
		return;
	pthread_mutex_destroy(&rp->lock);
	free(rp->ring);
	free(rp->buckets);
	free(rp);
}

/* Record a nonce unless seen or below the floor. 0, -EALREADY, -ERANGE. */
static int auth_replay_add(struct auth_replay *rp, const unsigned char *nonce,
			   int64_t ts, int64_t now)
{
	struct auth_nonce *e;
	int r;

	pthread_mutex_lock(&rp->lock);
	if (ts <= rp->floor_ms) {
		r = -ERANGE;
		goto out;
	}
	if (auth_replay_has(rp, nonce)) {
		r = -EALREADY;
		goto out;
	}
	while (rp->count > 0 && rp->ring[rp->head].ts_ms < now - rp->skew_ms)
		auth_replay_pop(rp);
	if (rp->count == rp->cap &&
	    (rp->cap >= rp->max || auth_replay_grow(rp) != 0))
		auth_replay_pop(rp);
	e = &rp->ring[(rp->head + rp->count) & (rp->cap - 1)];
	memcpy(e->nonce, nonce, AUTH_NONCE_LEN);
	e->ts_ms = ts;
	auth_replay_link(rp, (rp->head + rp->count) & (rp->cap - 1));
	rp->count++;
	r = 0;
out:
	pthread_mutex_unlock(&rp->lock);
	return r;
}

/* The stamp of a parsed signature is within the window and the request
 * line can be signed: 0, -ERANGE or -EACCES. */
static int auth_sig_usable(const struct auth_replay *rp,
			   const struct auth_sig *sig, const char *method,
			   const char *uri, int64_t now_ms)
{
	if (!auth_in_window(sig->ts_ms, now_ms, auth_skew(rp)))
		return -ERANGE;
	if (!auth_line_ok(method) || !auth_line_ok(uri))
		return -EACCES;
	return 0;
}

/* Check a parsed signature's MAC over the request and digest, then
 * record its nonce. */
static int auth_sig_check(const struct auth_key *key, struct auth_replay *rp,
			  const char *method, const char *uri,
			  const struct auth_digest *digest,
			  const struct auth_sig *sig, int64_t now_ms)
{
	char mac_hex[AUTH_MAC_LEN * 2 + 1];
	int r;

	if (sig->keyed != digest->keyed ||
	    (sig->keyed && CRYPTO_memcmp(sig->body_nonce, digest->bytes,
					 AUTH_NONCE_LEN) != 0))
		return -EACCES;
	if ((r = auth_request_mac(key, method, uri, digest, sig->ts,
				  sig->ts_len, sig->nonce_hex, mac_hex)) != 0)
		return r;
	if (CRYPTO_memcmp(mac_hex, sig->mac_hex, AUTH_MAC_LEN * 2) != 0)
		return -EACCES;
	return rp != NULL ?
		       auth_replay_add(rp, sig->nonce, sig->ts_ms, now_ms) :
		       0;
}

int auth_verify_body(const struct auth_key *key, struct auth_replay *rp,
		     const char *method, const char *uri, const void *body,
		     size_t len, const char *hdr, int64_t now_ms,
		     struct auth_digest *out)
{
	struct auth_sig sig;
	int r;

	pthread_once(&auth_once, auth_fetch);
	if ((r = auth_sig_parse(hdr, &sig)) != 0 ||
	    (r = auth_sig_usable(rp, &sig, method, uri, now_ms)) != 0)
		return r;
	r = sig.keyed ? auth_keyed_digest(key, sig.body_nonce, body, len, out) :
			auth_sha256_digest(body, len, out);
	if (r != 0)
		return r;
	return auth_sig_check(key, rp, method, uri, out, &sig, now_ms);
}

int auth_verify(const struct auth_key *key, struct auth_replay *rp,
		const char *method, const char *uri, const void *body,
		size_t len, const char *hdr, int64_t now_ms)
{
	struct auth_digest digest;

	return auth_verify_body(key, rp, method, uri, body, len, hdr, now_ms,
				&digest);
}

int auth_verify_digest(const struct auth_key *key, struct auth_replay *rp,
		       const char *method, const char *uri,
		       const struct auth_digest *digest, const char *hdr,
		       int64_t now_ms)
{
	struct auth_sig sig;
	int r;

	if ((r = auth_sig_parse(hdr, &sig)) != 0 ||
	    (r = auth_sig_usable(rp, &sig, method, uri, now_ms)) != 0)
		return r;
	return auth_sig_check(key, rp, method, uri, digest, &sig, now_ms);
}

/* MAC of a token's text "<handle>.<mode>.<expiry>" as hex (65 bytes). */
static int auth_token_mac(const struct auth_key *key, const char *text,
			  size_t len, char *mac_hex)
{
	unsigned char mac[AUTH_MAC_LEN];
	struct auth_part parts[2] = {{"dfs-token-v1\n", 13}, {text, len}};
	int r;

	if ((r = auth_hmac(key->tok_key, parts, 2, mac)) != 0)
		return r;
	auth_hex(mac, sizeof(mac), mac_hex);
	return 0;
}

/* True for a non-empty set of known mode bits. */
static bool auth_mode_ok(unsigned mode)
{
	return mode != 0 && (mode & ~(unsigned)(AUTH_TOKEN_READ |
						 AUTH_TOKEN_WRITE)) == 0;
}

int auth_token_make(const struct auth_key *key, uint64_t handle,
		    unsigned mode, int64_t expiry_ms, char *out)
{
	char mac_hex[AUTH_MAC_LEN * 2 + 1];
	char text[AUTH_DEC_MAX * 2 + 8];
	int n, r;

	if (!auth_mode_ok(mode) || expiry_ms < 0)
		return -EINVAL;
	n = snprintf(text, sizeof(text), "%" PRIu64 ".%u.%" PRId64, handle,
		     mode, expiry_ms);
	if ((r = auth_token_mac(key, text, (size_t)n, mac_hex)) != 0)
		return r;
	snprintf(out, AUTH_TOKEN_MAX, "%s.%s", text, mac_hex);
	return 0;
}

int auth_token_check(const struct auth_key *key, const char *token,
		     uint64_t handle, unsigned needed_mode, int64_t now_ms)
{
	char mac_hex[AUTH_MAC_LEN * 2 + 1];
	uint64_t th, tmode, texp;
	const char *p;

	if (token == NULL || strnlen(token, AUTH_TOKEN_MAX) >= AUTH_TOKEN_MAX)
		return -EACCES;
	if ((p = auth_parse_dec(token, '.', UINT64_MAX, &th)) == NULL ||
	    (p = auth_parse_dec(p, '.', 3, &tmode)) == NULL ||
	    (p = auth_parse_dec(p, '.', INT64_MAX, &texp)) == NULL ||
	    strlen(p) != AUTH_MAC_LEN * 2)
		return -EACCES;
	if (auth_token_mac(key, token, (size_t)(p - 1 - token), mac_hex) != 0)
		return -EACCES;
	if (CRYPTO_memcmp(mac_hex, p, AUTH_MAC_LEN * 2) != 0)
		return -EACCES;
	if (th != handle || !auth_mode_ok((unsigned)tmode) ||
	    !auth_mode_ok(needed_mode) ||
	    (needed_mode & ~(unsigned)tmode) != 0)
		return -EACCES;
	if (now_ms > (int64_t)texp)
		return -ETIMEDOUT;
	return 0;
}

const char *auth_strerror(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case -ENOKEY:
		return "missing " AUTH_HEADER " header";
	case -EBADMSG:
		return "malformed " AUTH_HEADER " header";
	case -ERANGE:
		return "request timestamp outside the allowed clock skew";
	case -EACCES:
		return "bad signature or token";
	case -EALREADY:
		return "replayed request";
	case -ETIMEDOUT:
		return "token expired";
	case -EPERM:
		return "secret file accessible by group or others";
	default:
		return "authentication failed";
	}
}
