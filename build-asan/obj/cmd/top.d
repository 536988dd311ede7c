build-asan/obj/cmd/top.o: cmd/top.c lib/profile.h lib/arena.h \
 lib/hashmap.h cmd/memprof.h lib/report.h
lib/profile.h:
lib/arena.h:
lib/hashmap.h:
cmd/memprof.h:
lib/report.h:
