build-asan/obj/tests/unit/test_units.o: tests/unit/test_units.c \
 tests/unit/harness.h lib/units.h
tests/unit/harness.h:
lib/units.h:
