/*
 * test_file_tail.c - the partial last page fusefs keeps of files it wrote
 * (fusefs/file_tail.h): which writes keep, extend or drop it, which
 * reads it answers, and that the budget drops the oldest first.
 *
 * Every case checks against a model: a byte array the same writes went
 * to. A read the tail answers must give the model's bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../fusefs/file_tail.h"

#include "banned.h"

#define PAGE FILE_TAIL_PAGE
#define MODEL_MAX (8 * PAGE)

struct model {
	struct file_tail_budget budget;
	struct file_tail tail;
	uint8_t bytes[MODEL_MAX];
	uint64_t size;
};

static void model_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	file_tail_budget_init(&m->budget, 1 << 20);
}

/* Write "len" bytes of value "v" at "off", to the model and the tail. */
static void model_write(struct model *m, uint64_t off, size_t len, uint8_t v)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	memset(buf, v, len);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(v + i % 7); /* not one byte repeated */
	memcpy(m->bytes + off, buf, len);
	if (off + len > m->size)
		m->size = off + len;
	file_tail_note_write(&m->budget, &m->tail, buf, len, off);
	free(buf);
}

/* Read [off, off + len): true if the tail answered; its bytes must be
 * the model's, up to the size. */
static bool model_read(struct model *m, uint64_t off, size_t len)
{
	uint8_t out[PAGE * 2];
	size_t n = 0;

	assert_true(len <= sizeof(out));
	if (!file_tail_read(&m->tail, off, len, m->size, out, &n))
		return false;
	assert_int_equal(n, (off + len < m->size ? off + len : m->size) - off);
	assert_memory_equal(out, m->bytes + off, n);
	return true;
}

static void model_free(struct model *m)
{
	file_tail_drop(&m->budget, &m->tail);
	assert_int_equal(m->budget.bytes, 0);
}

/* cp: whole pages, then a partial last page: the last page is kept. */
static void test_sequential_file(void **state)
{
	struct model m;

	(void)state;
	model_init(&m);
	model_write(&m, 0, 2 * PAGE, 1);
	assert_false(model_read(&m, 0, PAGE));
	model_write(&m, 2 * PAGE, 100, 2);
	assert_true(model_read(&m, 2 * PAGE, PAGE));
	assert_true(model_read(&m, 2 * PAGE + 10, 50));
	/* A read that needs a byte of an earlier page is not answered. */
	assert_false(model_read(&m, 2 * PAGE - 1, PAGE));
	assert_int_equal(m.budget.bytes, 100);
	model_free(&m);
}

/* One write of a whole small file, or one ending mid-page. */
static void test_single_write(void **state)
{
	struct model m;

	(void)state;
	model_init(&m);
	model_write(&m, 0, 3000, 3);
	assert_true(model_read(&m, 0, PAGE));
	model_free(&m);

	model_init(&m);
	model_write(&m, 0, PAGE + 5, 4);
	assert_true(model_read(&m, PAGE, PAGE));
	assert_false(model_read(&m, 0, PAGE));
	model_free(&m);
}

/* Small writes in a row (an editor, a script's echo >>) extend it. */
static void test_small_writes_extend(void **state)
{
	struct model m;

	(void)state;
	model_init(&m);
	for (int i = 0; i < 30; i++)
		model_write(&m, (uint64_t)i * 100, 100, (uint8_t)i);
	assert_true(model_read(&m, 0, PAGE));
	/* Rewriting inside the kept bytes updates them. */
	model_write(&m, 500, 20, 99);
	assert_true(model_read(&m, 0, PAGE));
	model_free(&m);
}

/* A write past the kept bytes, or over their page from after a gap,
 * leaves them unable to answer the page: dropped. */
static void test_gap_and_growth_drop(void **state)
{
	struct model m;

	(void)state;
	model_init(&m);
	model_write(&m, 0, 100, 5);
	model_write(&m, 200, 50, 6); /* bytes 100..199 not written here */
	assert_false(model_read(&m, 0, PAGE));
	assert_int_equal(m.budget.bytes, 0);
	model_free(&m);

	model_init(&m);
	model_write(&m, 0, 100, 7);
	assert_true(model_read(&m, 0, PAGE));
	model_write(&m, 3 * PAGE, PAGE, 8); /* grows past the page */
	assert_false(model_read(&m, 0, PAGE));
	assert_int_equal(m.budget.bytes, 0);
	model_free(&m);
}

/* Writes before the kept page leave it alone; a write ending on a page
 * boundary over it drops it. */
static void test_writes_elsewhere(void **state)
{
	struct model m;

	(void)state;
	model_init(&m);
	model_write(&m, 0, 2 * PAGE + 10, 9);
	model_write(&m, 100, 200, 10); /* starts after its page's start */
	/* That write's page is not the kept one: page 2 still is. */
	assert_true(model_read(&m, 2 * PAGE, PAGE));
	model_write(&m, PAGE, 2 * PAGE, 11); /* over page 2, ends at 3*PAGE */
	assert_false(model_read(&m, 2 * PAGE, PAGE));
	assert_int_equal(m.budget.bytes, 0);
	model_free(&m);
}

/* Reads at or past the end, or of a file that shrank, are not wrong. */
static void test_read_bounds(void **state)
{
	struct model m;
	uint8_t out[PAGE];
	size_t n;

	(void)state;
	model_init(&m);
	model_write(&m, 0, 1000, 12);
	assert_false(file_tail_read(&m.tail, 1000, PAGE, 1000, out, &n));
	assert_false(file_tail_read(&m.tail, 5000, PAGE, 1000, out, &n));
	/* Told a smaller size (a truncate elsewhere), it gives no more. */
	assert_true(file_tail_read(&m.tail, 0, PAGE, 600, out, &n));
	assert_int_equal(n, 600);
	/* Told a larger one, it cannot answer the page. */
	assert_false(file_tail_read(&m.tail, 0, PAGE, 1500, out, &n));
	model_free(&m);
}

/* The budget keeps the newest tails and frees the oldest. */
static void test_budget_drops_oldest(void **state)
{
	struct file_tail_budget b;
	struct file_tail t[4];
	uint8_t buf[1000], out[PAGE];
	size_t n;

	(void)state;
	memset(t, 0, sizeof(t));
	memset(buf, 'x', sizeof(buf));
	file_tail_budget_init(&b, 2500);
	for (int i = 0; i < 4; i++)
		file_tail_note_write(&b, &t[i], buf, sizeof(buf), 0);
	assert_int_equal(b.bytes, 2000);
	assert_false(file_tail_read(&t[0], 0, PAGE, 1000, out, &n));
	assert_false(file_tail_read(&t[1], 0, PAGE, 1000, out, &n));
	assert_true(file_tail_read(&t[2], 0, PAGE, 1000, out, &n));
	assert_true(file_tail_read(&t[3], 0, PAGE, 1000, out, &n));
	/* A write to a kept tail makes it the newest. */
	file_tail_note_write(&b, &t[2], buf, 10, 0);
	file_tail_note_write(&b, &t[0], buf, sizeof(buf), 0);
	assert_true(file_tail_read(&t[2], 0, PAGE, 1000, out, &n));
	assert_false(file_tail_read(&t[3], 0, PAGE, 1000, out, &n));
	for (int i = 0; i < 4; i++)
		file_tail_drop(&b, &t[i]);
	assert_int_equal(b.bytes, 0);
	assert_null(TAILQ_FIRST(&b.kept));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequential_file),
		cmocka_unit_test(test_single_write),
		cmocka_unit_test(test_small_writes_extend),
		cmocka_unit_test(test_gap_and_growth_drop),
		cmocka_unit_test(test_writes_elsewhere),
		cmocka_unit_test(test_read_bounds),
		cmocka_unit_test(test_budget_drops_oldest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
