build-asan/obj/cmd/help.o: cmd/help.c cmd/memprof.h lib/report.h
cmd/memprof.h:
lib/report.h:
