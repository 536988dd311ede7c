build-asan/obj/cmd/memprof.o: cmd/memprof.c cmd/memprof.h lib/report.h
cmd/memprof.h:
lib/report.h:
