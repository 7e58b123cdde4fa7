# DFS - one plain Makefile for every program, library and test.
#
#   make            build build/bin/{masterd,chunkd,fusefs,mr,dfs}
#   make deps       install the Debian packages that are missing
#   make test       deps, build, unit tests, integration tests
#   make run        deps, build, start a local cluster mounted at /mnt/dfs
#   make asan       build with AddressSanitizer and UBSan into build/asan
#   make bench      benchmarks (see bench/)
#   make format     clang-format the C lines changed since FORMAT_BASE
#   make install    install under $(PREFIX)

PREFIX ?= /usr/local
BUILD ?= build
CC ?= gcc

PKGS = fuse3 sqlite3 libcurl libmicrohttpd jansson libxxhash openssl

WARNINGS = -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes \
	-Wwrite-strings -Wformat-security -Wvla -fno-common
CFLAGS ?= -g -O2
ALL_CFLAGS = -std=gnu11 $(CFLAGS) $(WARNINGS) -D_GNU_SOURCE -Iinclude \
	-MMD -MP $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -pthread
LDLIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -pthread -ldl -lm

ifdef SANITIZE
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
else
# masterd and fusefs allocate through jemalloc: glibc's malloc was 7-11 %
# of masterd's CPU (malloc_consolidate() on every page SQLite allocates,
# arena locks between request threads) and 12 % of fusefs's (the same
# consolidation at each large allocation among a request's many small
# ones); jemalloc made metadata creates 10-15 % faster and cost fusefs
# 12-15 % less CPU per small file (README, "Measured figures"). fusefs
# keeps its buffers of 8 MiB and more in jemalloc's ordinary arenas
# (malloc_conf in fusefs/main.c). chunkd stays on glibc: under jemalloc a
# 512 MiB write faulted 78,000-94,000 pages in the chunk servers against
# under 100. The sanitizers bring an allocator of their own.
JEMALLOC_LIBS = $(shell pkg-config --libs jemalloc 2>/dev/null)
endif

LIB_SRCS = $(sort $(wildcard lib/*.c))
MASTERD_SRCS = $(sort $(wildcard masterd/*.c))
CHUNKD_SRCS = $(sort $(wildcard chunkd/*.c))
FUSEFS_SRCS = $(sort $(wildcard fusefs/*.c))
DFS_SRCS = $(sort $(wildcard tools/*.c))
MR_SRCS = $(sort $(wildcard mr/*.c))
UNIT_SRCS = $(sort $(wildcard tests/unit/test_*.c))
HELPER_SRCS = $(sort $(wildcard tests/helpers/*.c))
APP_SRCS = $(sort $(wildcard mr/apps/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_A = $(BUILD)/obj/libdfs.a
PROGRAMS = $(BUILD)/bin/masterd $(BUILD)/bin/chunkd $(BUILD)/bin/fusefs \
	$(BUILD)/bin/dfs
ifneq ($(MR_SRCS),)
PROGRAMS += $(BUILD)/bin/mr
endif
UNIT_TESTS = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
HELPERS = $(patsubst tests/helpers/%.c,$(BUILD)/tests/%,$(HELPER_SRCS))
APPS = $(patsubst mr/apps/%.c,$(BUILD)/apps/%.so,$(APP_SRCS))

.PHONY: all deps test unit-test integration-test integration-test-asan run asan install clean \
	bench fuzz format check-format

all: $(PROGRAMS) $(HELPERS) $(APPS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_A): $(call obj,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/masterd: $(call obj,$(MASTERD_SRCS)) $(LIB_A)
$(BUILD)/bin/masterd: LDLIBS += $(JEMALLOC_LIBS)
$(BUILD)/bin/chunkd: $(call obj,$(CHUNKD_SRCS)) $(LIB_A)
$(BUILD)/bin/fusefs: $(call obj,$(FUSEFS_SRCS)) $(LIB_A)
$(BUILD)/bin/fusefs: LDLIBS += $(JEMALLOC_LIBS)
$(BUILD)/bin/dfs: $(call obj,$(DFS_SRCS)) $(LIB_A)
$(BUILD)/bin/mr: $(call obj,$(MR_SRCS)) $(LIB_A)

$(BUILD)/bin/%:
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# MapReduce apps are shared objects loaded by mr workers (include/mr_app.h).
$(BUILD)/apps/%.so: mr/apps/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MF $(BUILD)/obj/$*.app.d -fPIC -shared -o $@ $<

# Unit tests of a daemon's modules link those modules' objects too.
UNIT_EXTRA_test_namespace = masterd/namespace.c masterd/ns_apply.c \
	masterd/ns_files.c masterd/ns_server_state.c masterd/ns_xattr.c \
	masterd/ns_repl.c masterd/wal_vfs.c
UNIT_EXTRA_test_deferred_attr = fusefs/deferred_attr.c
UNIT_EXTRA_test_file_tail = fusefs/file_tail.c
UNIT_EXTRA_test_dir_names = fusefs/dir_names.c
UNIT_EXTRA_test_leases = masterd/leases.c
UNIT_EXTRA_test_dir_leases = masterd/dir_leases.c
UNIT_EXTRA_test_db_resident = masterd/db_resident.c
UNIT_EXTRA_test_store = chunkd/store.c chunkd/store_corrupt.c \
	chunkd/store_fds.c chunkd/store_floor.c chunkd/store_import.c \
	chunkd/store_spare.c

.SECONDEXPANSION:
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o \
		$$(call obj,$$(UNIT_EXTRA_$$*)) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/%: $(BUILD)/obj/tests/helpers/%.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@bash deploy/install-deps.sh

unit-test: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

integration-test: all
	DFS_BIN=$(CURDIR)/$(BUILD)/bin timeout 1500 /usr/bin/python3 -m pytest \
		-v -p no:cacheprovider tests/integration $(PYTEST_ARGS)

# The same integration suite against daemons built with ASan and UBSan;
# a sanitizer report in any daemon's log fails the test that caused it.
integration-test-asan: asan
	DFS_BIN=$(CURDIR)/build/asan/bin timeout 1800 /usr/bin/python3 -m pytest \
		-q -p no:cacheprovider tests/integration $(PYTEST_ARGS)

test: deps
	$(MAKE) all
	$(MAKE) unit-test
	bash tests/fuzz/run.sh 3
	$(MAKE) integration-test

run: deps
	$(MAKE) all
	bash deploy/run-demo.sh

asan:
	$(MAKE) BUILD=build/asan SANITIZE=address,undefined all

# SPEC 8: the file system workloads beside MooseFS and GlusterFS, then
# MapReduce word count (MR_BENCH_MIB of text; 0 skips it).
MR_BENCH_MIB ?= 1024
bench:
	@bash deploy/install-deps.sh --bench
	$(MAKE) all
	bash bench/run.sh
	if [ "$(MR_BENCH_MIB)" != 0 ]; then bash bench/mr_wc.sh $(MR_BENCH_MIB); fi

FUZZ_SECONDS ?= 10
fuzz:
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/lib/dfs/apps
	$(if $(APPS),install -m 0644 $(APPS) $(DESTDIR)$(PREFIX)/lib/dfs/apps/)

# Old code is reformatted only where it is touched (STYLE.md), so both
# work on the C lines changed since FORMAT_BASE (a commit; by default
# HEAD, i.e. what is not committed yet): `make format` rewrites them,
# `make check-format` prints the changes it would make and fails if any.
FORMAT_BASE ?= HEAD

format:
	git clang-format --force --extensions c,h $(FORMAT_BASE)

check-format:
	@out=$$(git clang-format --diff --extensions c,h $(FORMAT_BASE)) || true; \
	case "$$out" in \
	"" | "no modified files to format" | \
	"clang-format did not modify any files") ;; \
	*) printf '%s\n' "$$out"; exit 1 ;; \
	esac

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
