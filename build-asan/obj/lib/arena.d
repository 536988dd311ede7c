build-asan/obj/lib/arena.o: lib/arena.c lib/arena.h
lib/arena.h:
