build-asan/obj/lib/profile.o: lib/profile.c lib/profile.h lib/arena.h \
 lib/hashmap.h
lib/profile.h:
lib/arena.h:
lib/hashmap.h:
