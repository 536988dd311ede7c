build-asan/obj/lib/report.o: lib/report.c lib/report.h lib/graph.h \
 lib/arena.h lib/hashmap.h lib/profile.h lib/units.h
lib/report.h:
lib/graph.h:
lib/arena.h:
lib/hashmap.h:
lib/profile.h:
lib/units.h:
