build-asan/obj/tests/unit/test_graph.o: tests/unit/test_graph.c \
 tests/unit/harness.h lib/arena.h lib/graph.h lib/arena.h lib/hashmap.h \
 lib/hashmap.h
tests/unit/harness.h:
lib/arena.h:
lib/graph.h:
lib/arena.h:
lib/hashmap.h:
lib/hashmap.h:
