build-asan/obj/lib/hashmap.o: lib/hashmap.c lib/hashmap.h lib/arena.h
lib/hashmap.h:
lib/arena.h:
