build-asan/obj/cmd/run.o: cmd/run.c lib/arena.h lib/collect.h lib/pprof.h \
 lib/profile.h lib/arena.h lib/hashmap.h lib/tracker/records.h \
 lib/units.h cmd/memprof.h lib/report.h
lib/arena.h:
lib/collect.h:
lib/pprof.h:
lib/profile.h:
lib/arena.h:
lib/hashmap.h:
lib/tracker/records.h:
lib/units.h:
cmd/memprof.h:
lib/report.h:
