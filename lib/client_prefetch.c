/*
 * client_prefetch.c - chunk locations that came with an open (EP_OPEN
 * "chunks"), kept for the dfs_file_open() that follows it.
 *
 * A reader that opens a file then needs where its first chunk is; the
 * master sends that with the open, and the handle's location cache
 * (client_chunk.c) adopts it when the handle is made, which saves a
 * round trip per opened file (diff -r, cat, a compiler's includes). A
 * create sends the new file's chunk 0 with its write lease the same way
 * (EP_CREATE "chunk"), for the writer of a small file. An
 * entry is taken once and only while young (PREFETCH_TTL_MS); a truncate
 * through this client drops it (client_prefetch_drop()), since its
 * chunks may then be gone. Locations are hints either way: a replica
 * that no longer has the chunk answers NOENT or STALE and the reader
 * asks the master again.
 *
 * THREAD SAFETY: "lock" guards the table.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "timeutil.h"
#include "xmalloc.h"
#include "banned.h"

/* Opens remembered at once (later ones replace the oldest). */
#define PREFETCH_SLOTS 32

/* Age past which an entry is not used. */
#define PREFETCH_TTL_MS 1000

struct prefetch_slot {
	uint64_t ino;           /* 0: unused */
	int64_t at_ms;          /* monotonic time it was stored */
	uint64_t count;         /* chunks 0 .. count-1 are covered */
	bool write;             /* they carry write leases */
	json_t *chunks;         /* owned reference */
};

struct client_prefetch {
	pthread_mutex_t lock;
	struct prefetch_slot slot[PREFETCH_SLOTS];
	unsigned next;          /* slot the next store replaces */
};

struct client_prefetch *client_prefetch_new(void)
{
	struct client_prefetch *p = xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->lock, NULL);
	return p;
}

static void slot_clear(struct prefetch_slot *s)
{
	json_decref(s->chunks);
	memset(s, 0, sizeof(*s));
}

void client_prefetch_free(struct client_prefetch *p)
{
	if (p == NULL)
		return;
	for (unsigned i = 0; i < PREFETCH_SLOTS; i++)
		slot_clear(&p->slot[i]);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* The slot holding "ino", or NULL; lock held. */
static struct prefetch_slot *slot_of(struct client_prefetch *p,
				     uint64_t ino)
{
	for (unsigned i = 0; i < PREFETCH_SLOTS; i++)
		if (p->slot[i].ino == ino)
			return &p->slot[i];
	return NULL;
}

void client_prefetch_put(struct client_prefetch *p, uint64_t ino,
			 json_t *chunks, uint64_t count, bool write)
{
	struct prefetch_slot *s;

	if (ino == 0 || !json_is_array(chunks) || count == 0)
		return;
	pthread_mutex_lock(&p->lock);
	if ((s = slot_of(p, ino)) == NULL) {
		s = &p->slot[p->next];
		p->next = (p->next + 1) % PREFETCH_SLOTS;
	}
	slot_clear(s);
	s->ino = ino;
	s->at_ms = time_mono_ms();
	s->count = count;
	s->write = write;
	s->chunks = json_incref(chunks);
	pthread_mutex_unlock(&p->lock);
}

json_t *client_prefetch_take(struct client_prefetch *p, uint64_t ino,
			     uint64_t *count, bool *write)
{
	struct prefetch_slot *s;
	json_t *chunks = NULL;

	pthread_mutex_lock(&p->lock);
	if ((s = slot_of(p, ino)) != NULL) {
		if (time_mono_ms() - s->at_ms < PREFETCH_TTL_MS) {
			chunks = json_incref(s->chunks);
			*count = s->count;
			*write = s->write;
		}
		slot_clear(s);
	}
	pthread_mutex_unlock(&p->lock);
	return chunks;
}

void client_prefetch_drop(struct client_prefetch *p, uint64_t ino)
{
	struct prefetch_slot *s;

	pthread_mutex_lock(&p->lock);
	if ((s = slot_of(p, ino)) != NULL)
		slot_clear(s);
	pthread_mutex_unlock(&p->lock);
}
