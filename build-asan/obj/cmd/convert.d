build-asan/obj/cmd/convert.o: cmd/convert.c lib/collect.h cmd/memprof.h \
 lib/report.h
lib/collect.h:
cmd/memprof.h:
lib/report.h:
