build-asan/obj/lib/symbolize.o: lib/symbolize.c lib/symbolize.h \
 lib/arena.h lib/hashmap.h
lib/symbolize.h:
lib/arena.h:
lib/hashmap.h:
