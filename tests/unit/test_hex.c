/* test_hex.c - lib/hex.h: the one hex digit reader and writer. */
#include "harness.h"
#include "lib/hex.h"

static void test_digit(void)
{
	const char *digits = "0123456789abcdef", *upper = "ABCDEF";
	for (int i = 0; i < 16; i++)
		CHECK(hex_digit(digits[i]) == i);
	for (int i = 0; i < 6; i++)
		CHECK(hex_digit(upper[i]) == 10 + i);
	/* everything else is none: the neighbours of each run, space, NUL,
	 * bytes above 127 as a plain char gives them (negative), and as
	 * unsigned */
	const int none[] = { '/', ':', '@', 'G', '`', 'g', 'x', 'X', ' ', '\0', '%', -1,
			     (char)0xe9, 0xe9, 0xff, 256 + '0' };
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		CHECK(hex_digit(none[i]) == -1);
	int n = 0;
	for (int c = -128; c < 256; c++)
		n += hex_digit(c) >= 0;
	CHECK(n == 22);
}

static void test_encode(void)
{
	char out[2 * 4 + 1];
	const unsigned char b[] = { 0x00, 0x0f, 0xa5, 0xff };
	CHECK(hex_encode(out, b, 4) == out);
	CHECK_STR(out, "000fa5ff");
	memset(out, 'x', sizeof(out));
	CHECK_STR(hex_encode(out, b, 0), "");
	hex_encode(out, b + 2, 1);
	CHECK_STR(out, "a5");
	CHECK(out[3] == 'x');	/* no more than 2 * n + 1 bytes written */
	/* read back */
	char id[2 * 64 + 1];
	unsigned char all[64];
	for (int i = 0; i < 64; i++)
		all[i] = (unsigned char)(i * 37 + 11);
	hex_encode(id, all, 64);
	CHECK(strlen(id) == 128);
	for (int i = 0; i < 64; i++)
		CHECK(hex_digit(id[2 * i]) * 16 + hex_digit(id[2 * i + 1]) == all[i]);
}

const struct unit_test hex_tests[] = {
	{ "hex: digits read, ASCII only, everything else -1", test_digit },
	{ "hex: bytes written in lowercase, NUL-terminated, read back", test_encode },
	{ NULL, NULL }
};
