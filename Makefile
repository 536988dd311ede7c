# memprof - plain Makefile. `make` builds build/memprof and build/libmemprof.so;
# `make DEVELOPER=1` adds -Werror and strict warnings; `make V=1` shows commands.

PREFIX ?= /usr/local
# the tracker goes in $(LIBDIR)/memprof (the package: /usr/lib/<triplet>)
LIBDIR ?= $(PREFIX)/lib
CC ?= cc
CFLAGS ?= -O2 -g
BUILD ?= build

WARN = -Wall -Wextra -Wno-unused-parameter
ifdef DEVELOPER
WARN += -Werror -Wstrict-prototypes -Wold-style-definition -Wmissing-prototypes \
	-Wshadow -Wformat=2 -Wvla
endif
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(CPPFLAGS) $(CFLAGS) $(WARN) -I. -I$(BUILD)/gen -MMD -MP \
	-DMEMPROF_LIBDIR='"$(LIBDIR)/memprof"' -DMEMPROF_LIBDIR_REL='"$(patsubst $(PREFIX)/%,%,$(LIBDIR))/memprof"'
LIBS = -lprotobuf-c -lz -ldw -lelf -liberty -lpcre2-8 -lm -lpthread

ifndef V
Q = @
QUIET_CC = @echo '   CC     $@';
QUIET_LINK = @echo '   LINK   $@';
QUIET_GEN = @echo '   GEN    $@';
endif

LIB_SRCS = lib/addrmap.c lib/arena.c lib/hashmap.c lib/profile.c lib/pprof.c lib/units.c lib/regex.c lib/filter.c \
	lib/graph.c lib/report.c lib/report_tree.c lib/report_traces.c lib/report_tags.c \
	lib/tabwriter.c lib/symbolize.c lib/collect.c lib/collect_profile.c lib/collect_warm.c lib/collect_extra.c lib/ring.c \
	lib/output.c lib/session.c lib/strbuf.c lib/timeline.c lib/leaks.c lib/shell.c lib/html_report.c lib/http_get.c \
	lib/http_server.c lib/serve.c
CMD_SRCS = cmd/memprof.c cmd/help.c cmd/report_args.c cmd/reports.c \
	cmd/run.c cmd/agent.c cmd/convert.c cmd/symbolize.c \
	cmd/output.c cmd/timeline.c cmd/leaks.c cmd/report_html.c cmd/fetch.c
GEN_SRCS = $(BUILD)/gen/proto/profile.pb-c.c

LIB_OBJS = $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/profile.pb-c.o
CMD_OBJS = $(CMD_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS = $(wildcard tests/unit/*.c)
UNIT_OBJS = $(UNIT_SRCS:%.c=$(BUILD)/obj/%.o)

all: $(BUILD)/memprof $(BUILD)/libmemprof.so

# The pkg-config file of include/memprof.h, written by make install for
# its PREFIX (header only: no library to link).
MEMPROF_VERSION = $(shell sed -n 's/^\#define MEMPROF_VERSION "\(.*\)"/\1/p' cmd/memprof.h)
PC_LINES = 'prefix=$(PREFIX)' 'includedir=$${prefix}/include' '' 'Name: memprof' \
	'Description: Report the blocks of a custom allocator to the memprof heap profiler' \
	'Version: $(MEMPROF_VERSION)' 'Cflags: -I$${includedir}'

# The tracker links only what it needs; its symbols are hidden except the
# interposed functions.
TRACKER_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(CPPFLAGS) $(if $(TRACKER_EXTRA),$(TRACKER_EXTRA) -g,$(CFLAGS)) \
	$(WARN) -fPIC -fvisibility=hidden \
	-ftls-model=initial-exec
TRACKER_SRCS = lib/tracker/hooks.c lib/tracker/sampler.c lib/tracker/tables.c \
	lib/tracker/stream.c lib/tracker/modules.c lib/tracker/lifecycle.c \
	lib/tracker/originals.c lib/tracker/mmap.c lib/tracker/pool.c lib/tracker/unwind.c lib/tracker/cxx.c \
	lib/tracker/stack_switch.S
TRACKER_OBJS = $(patsubst %,$(BUILD)/tracker/%.o,$(TRACKER_SRCS))
$(BUILD)/tracker/%.o: %
	@mkdir -p $(dir $@)
	$(QUIET_CC)$(CC) $(TRACKER_CFLAGS) -MMD -MP -c -o $@ $<
$(BUILD)/libmemprof.so: $(TRACKER_OBJS)
	$(QUIET_LINK)$(CC) $(TRACKER_CFLAGS) $(LDFLAGS) -shared -o $@ $(TRACKER_OBJS) \
		-Wl,-z,defs -Wl,-z,now -lunwind -ldl -lm -lpthread

$(BUILD)/gen/proto/profile.pb-c.c $(BUILD)/gen/proto/profile.pb-c.h: proto/profile.proto
	@mkdir -p $(BUILD)/gen
	$(QUIET_GEN)protoc-c --c_out=$(BUILD)/gen proto/profile.proto

# The report's page, HTML with its script and style inline, as a C string
# (sed: no xxd needed; '?' escaped so that no trigraph can form).
$(BUILD)/gen/report_template.h: lib/report_template.html
	@mkdir -p $(BUILD)/gen
	$(QUIET_GEN){ echo '/* generated from lib/report_template.html */'; \
		echo 'static const char report_template[] ='; \
		sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
		echo ';'; } > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/lib/html_report.o: $(BUILD)/gen/report_template.h

$(BUILD)/obj/gen/profile.pb-c.o: $(BUILD)/gen/proto/profile.pb-c.c
	@mkdir -p $(dir $@)
	$(QUIET_CC)$(CC) -std=gnu11 $(CFLAGS) -I$(BUILD)/gen -c -o $@ $<

$(BUILD)/obj/%.o: %.c $(BUILD)/gen/proto/profile.pb-c.h
	@mkdir -p $(dir $@)
	$(QUIET_CC)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libmemprof-core.a: $(LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/memprof: $(CMD_OBJS) $(BUILD)/libmemprof-core.a
	$(QUIET_LINK)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CMD_OBJS) $(BUILD)/libmemprof-core.a $(LIBS)

$(BUILD)/obj/tests/unit/%.o: ALL_CFLAGS += -DSRCDIR='"$(CURDIR)"'

# the tracker's pure parts are unit-tested as they are built
$(BUILD)/test-unit: $(UNIT_OBJS) $(BUILD)/obj/lib/tracker/tables.o $(BUILD)/libmemprof-core.a
	$(QUIET_LINK)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(UNIT_OBJS) $(BUILD)/obj/lib/tracker/tables.o \
		$(BUILD)/libmemprof-core.a $(LIBS)

# Installs the Debian packages the build needs (as root; prints the
# apt-get line otherwise). `make test` also installs what the tests run.
deps:
	@scripts/install-deps

test-deps:
	@scripts/install-deps --test

# The README's test command: unit and end-to-end tests, ending with
# "N passed, N failed".
test: test-deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/test-unit $(BUILD)/synth-profile
	$(Q)BUILD=$(BUILD) tests/run-tests

# The random sweeps at length (t0160: top and list, t0180: traces, peek,
# tree and tags, against go tool pprof on random option combinations);
# SWEEP_N of each, SWEEP_SEED to repeat a run. `make test` runs 100.
SWEEP_N ?= 3000
sweep: test-deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/test-unit
	$(Q)BUILD=$(BUILD) FILTER_SWEEP_N=$(SWEEP_N) CMDS_SWEEP_N=$(SWEEP_N) \
		$(if $(SWEEP_SEED),FILTER_SWEEP_SEED=$(SWEEP_SEED) CMDS_SWEEP_SEED=$(SWEEP_SEED)) \
		TESTS='t01[68]' tests/run-tests

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) testdata/demo.sh

# libFuzzer targets: the profile reader, and memprof convert's recording
# reader (Debian's clang). FUZZ_SECONDS each; `make fuzz-smoke` is CI's short run.
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_SECONDS ?= 60
$(BUILD)/fuzz-pprof $(BUILD)/fuzz-recording: $(BUILD)/fuzz-%: tests/fuzz/fuzz_%.c $(LIB_SRCS) $(BUILD)/gen/proto/profile.pb-c.c \
		$(BUILD)/gen/report_template.h
	$(QUIET_LINK)clang -std=gnu11 -D_GNU_SOURCE $(FUZZ_CFLAGS) -I. -I$(BUILD)/gen -o $@ \
		tests/fuzz/fuzz_$*.c $(LIB_SRCS) $(GEN_SRCS) $(LIBS)
fuzz: test-deps $(BUILD)/fuzz-pprof $(BUILD)/fuzz-recording
	@mkdir -p $(BUILD)/fuzz-corpus $(BUILD)/fuzz-corpus-rec
	$(BUILD)/fuzz-pprof -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=16384 \
		-malloc_limit_mb=512 $(BUILD)/fuzz-corpus testdata/bad testdata/goprof
	$(BUILD)/fuzz-recording -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 \
		-malloc_limit_mb=512 $(BUILD)/fuzz-corpus-rec testdata/recordings
fuzz-smoke:
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-10}

# The test suite with memprof (CLI and collector) built with ASan and
# UBSan; the tracker stays uninstrumented (it runs inside other programs).
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
sanitize-test: test-deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="$(SAN_FLAGS)" \
		TRACKER_EXTRA=-O2 all build-asan/test-unit build-asan/synth-profile
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 TEST_NO_ULIMIT=1 \
		BUILD=build-asan tests/run-tests

# The report and reader tests with every memprof command under valgrind's
# memcheck: any error or leak fails the command (exit 99).
valgrind-test: test-deps all $(BUILD)/test-unit
	$(Q)MEMPROF_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect" \
		BUILD=$(BUILD) TESTS=t00[123] tests/run-tests

bench: all
	$(Q)BUILD=$(BUILD) bench/run

# What an install (and so the Debian package, which runs it) puts where.
# Quoted: PREFIX may hold spaces (the binary is built for the default
# PREFIX; an install finds its tracker relative to itself wherever it is).
install: all
	install -d "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)$(LIBDIR)/memprof" \
		"$(DESTDIR)$(PREFIX)/share/man/man1" "$(DESTDIR)$(PREFIX)/include" \
		"$(DESTDIR)$(LIBDIR)/pkgconfig" \
		"$(DESTDIR)$(PREFIX)/share/bash-completion/completions"
	install -m 755 $(BUILD)/memprof "$(DESTDIR)$(PREFIX)/bin/memprof"
	install -m 644 $(BUILD)/libmemprof.so "$(DESTDIR)$(LIBDIR)/memprof/libmemprof.so"
	install -m 644 docs/man/*.1 "$(DESTDIR)$(PREFIX)/share/man/man1/"
	install -m 644 include/memprof.h "$(DESTDIR)$(PREFIX)/include/memprof.h"
	printf '%s\n' $(PC_LINES) > "$(DESTDIR)$(LIBDIR)/pkgconfig/memprof.pc"
	install -m 644 scripts/bash-completion/memprof \
		"$(DESTDIR)$(PREFIX)/share/bash-completion/completions/memprof"

# The Debian package, built with debhelper (debian/rules runs the install
# above) in a copy of the tree under $(BUILD)/debsrc, so that nothing is
# written beside the checkout; the .deb lands in $(BUILD)/. Its build
# dependencies come from scripts/install-deps --deb. The package's make
# gets none of this one's variables (BUILD=, DEVELOPER=): it builds as
# debian/rules says.
deb:
	@scripts/install-deps --deb
	$(Q)rm -rf $(BUILD)/debsrc && mkdir -p $(BUILD)/debsrc/memprof
	$(Q)tar -cf - --exclude=./.git --exclude='./build*' --exclude=./$(BUILD) . | \
		tar -xf - -C $(BUILD)/debsrc/memprof
	$(Q)cd $(BUILD)/debsrc/memprof && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u BUILD -u DEVELOPER \
		dpkg-buildpackage -b --no-sign > ../build.log 2>&1 || \
		{ tail -30 ../build.log; echo "make deb: dpkg-buildpackage failed (log: $(BUILD)/debsrc/build.log)"; exit 1; }
	$(Q)rm -f $(BUILD)/memprof_*.deb && cp $(BUILD)/debsrc/memprof_*.deb $(BUILD)/
	@echo "   DEB    $$(ls $(BUILD)/memprof_*.deb)"

clean:
	rm -rf $(BUILD) build-asan

.PHONY: all deps test-deps test sweep demo fuzz fuzz-smoke bench install deb clean sanitize-test valgrind-test
-include $(shell find $(BUILD)/obj $(BUILD)/tracker -name '*.d' 2>/dev/null)

$(BUILD)/synth-profile: $(BUILD)/obj/bench/synth-profile.o $(BUILD)/libmemprof-core.a
	$(QUIET_LINK)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
