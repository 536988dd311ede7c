build-asan/obj/lib/collect.o: lib/collect.c lib/collect.h lib/arena.h \
 lib/hashmap.h lib/profile.h lib/symbolize.h lib/tracker/records.h
lib/collect.h:
lib/arena.h:
lib/hashmap.h:
lib/profile.h:
lib/symbolize.h:
lib/tracker/records.h:
