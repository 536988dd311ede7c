build-asan/obj/cmd/report_args.o: cmd/report_args.c lib/pprof.h \
 lib/profile.h lib/arena.h lib/hashmap.h lib/units.h cmd/memprof.h \
 lib/report.h
lib/pprof.h:
lib/profile.h:
lib/arena.h:
lib/hashmap.h:
lib/units.h:
cmd/memprof.h:
lib/report.h:
