build-asan/obj/lib/graph.o: lib/graph.c lib/graph.h lib/arena.h \
 lib/hashmap.h lib/profile.h
lib/graph.h:
lib/arena.h:
lib/hashmap.h:
lib/profile.h:
