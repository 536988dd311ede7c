build-asan/obj/tests/unit/test_pprof.o: tests/unit/test_pprof.c \
 tests/unit/harness.h lib/pprof.h lib/profile.h lib/arena.h lib/hashmap.h
tests/unit/harness.h:
lib/pprof.h:
lib/profile.h:
lib/arena.h:
lib/hashmap.h:
