/*
 * scrub.c - the background scrubber (see scrub.h).
 *
 * THREAD SAFETY: "lock" guards "stop"; "cond" wakes the thread early
 * when it is set. Everything else belongs to the thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"
#include "scrub.h"
#include "store.h"

#include "banned.h"

struct scrub {
	struct store *st;          /* borrowed */
	uint64_t rate;             /* bytes per second */
	int64_t interval_ms;       /* shortest time between pass starts */
	pthread_t thread;
	bool running;              /* the thread was started */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
};

/* Sleep ms unless stopped; false when stopping. */
static bool scrub_sleep(struct scrub *sc, int64_t ms)
{
	struct timespec ts;
	bool stop;

	ts = time_mono_after_ts(ms);
	pthread_mutex_lock(&sc->lock);
	while (!sc->stop &&
	       pthread_cond_timedwait(&sc->cond, &sc->lock, &ts) == 0)
		;
	stop = sc->stop;
	pthread_mutex_unlock(&sc->lock);
	return !stop;
}

/* Verify one replica unless it is being mutated. 1 if it was corrupt,
 * 0 otherwise. */
static int scrub_one(struct scrub *sc, const struct store_replica *rep)
{
	struct store_lock *lk = NULL;
	int r;

	if (store_lock(sc->st, rep->handle, 0, &lk) != 0)
		return 0;
	store_unlock(lk);
	r = store_verify(sc->st, rep->handle);
	if (r == -EBADMSG)
		return 1;
	if (r != 0 && r != -ENOENT)
		log_warnx("chunk %016" PRIx64 ": scrub read failed: %s",
			  rep->handle, strerror(-r));
	return 0;
}

/* One pass over every replica; false when stopping. */
static bool scrub_pass(struct scrub *sc)
{
	struct store_replica *reps = NULL;
	uint64_t bytes = 0;
	size_t i, n, bad = 0;
	int64_t ms;
	bool go = true;

	n = store_list(sc->st, &reps);
	for (i = 0; i < n && go; i++) {
		bad += (size_t)scrub_one(sc, &reps[i]);
		bytes += reps[i].length;
		ms = (int64_t)(reps[i].length * 1000 / sc->rate);
		go = scrub_sleep(sc, ms > 0 ? ms : 0);
	}
	free(reps);
	if (go)
		log_info("scrubbed %zu replicas (%" PRIu64 " bytes): %zu "
			 "corrupt",
			 n, bytes, bad);
	return go;
}

static void *scrub_main(void *arg)
{
	struct scrub *sc = arg;
	int64_t start, left;

	for (;;) {
		start = time_mono_ms();
		if (!scrub_pass(sc))
			break;
		left = sc->interval_ms - (time_mono_ms() - start);
		if (!scrub_sleep(sc, left > 0 ? left : 0))
			break;
	}
	return NULL;
}

struct scrub *scrub_new(struct store *st, uint64_t rate, int64_t interval_ms)
{
	struct scrub *sc = xcalloc(1, sizeof(*sc));
	pthread_condattr_t ca;

	sc->st = st;
	sc->rate = rate;
	sc->interval_ms = interval_ms;
	pthread_mutex_init(&sc->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sc->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rate == 0)
		return sc;
	if (pthread_create(&sc->thread, NULL, scrub_main, sc) != 0)
		fatalx("cannot start the scrubber thread");
	sc->running = true;
	return sc;
}

void scrub_free(struct scrub *sc)
{
	if (sc == NULL)
		return;
	pthread_mutex_lock(&sc->lock);
	sc->stop = true;
	pthread_cond_signal(&sc->cond);
	pthread_mutex_unlock(&sc->lock);
	if (sc->running)
		pthread_join(sc->thread, NULL);
	pthread_cond_destroy(&sc->cond);
	pthread_mutex_destroy(&sc->lock);
	free(sc);
}
