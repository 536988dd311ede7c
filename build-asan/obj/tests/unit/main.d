build-asan/obj/tests/unit/main.o: tests/unit/main.c tests/unit/harness.h \
 lib/pprof.h lib/profile.h lib/arena.h lib/hashmap.h
tests/unit/harness.h:
lib/pprof.h:
lib/profile.h:
lib/arena.h:
lib/hashmap.h:
