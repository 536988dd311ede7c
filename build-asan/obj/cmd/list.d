build-asan/obj/cmd/list.o: cmd/list.c lib/profile.h lib/arena.h \
 lib/hashmap.h cmd/memprof.h lib/report.h
lib/profile.h:
lib/arena.h:
lib/hashmap.h:
cmd/memprof.h:
lib/report.h:
