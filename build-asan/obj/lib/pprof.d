build-asan/obj/lib/pprof.o: lib/pprof.c lib/pprof.h lib/profile.h \
 lib/arena.h lib/hashmap.h build-asan/gen/proto/profile.pb-c.h
lib/pprof.h:
lib/profile.h:
lib/arena.h:
lib/hashmap.h:
build-asan/gen/proto/profile.pb-c.h:
