build-asan/obj/lib/units.o: lib/units.c lib/units.h
lib/units.h:
