/* test_units.c - pprof's number and unit formats. */
#include "harness.h"
#include "lib/units.h"

static void test_label_bytes(void)
{
	char b[64];
	units_label(b, sizeof(b), 0, "bytes", "minimum");
	CHECK_STR(b, "0");
	units_label(b, sizeof(b), 512, "bytes", "minimum");
	CHECK_STR(b, "512B");
	units_label(b, sizeof(b), 1536, "bytes", "minimum");
	CHECK_STR(b, "1.50kB");
	units_label(b, sizeof(b), 1 << 20, "bytes", "minimum");
	CHECK_STR(b, "1MB");
	units_label(b, sizeof(b), 3LL << 30, "bytes", "MB");
	CHECK_STR(b, "3072MB");
	units_label(b, sizeof(b), 1000, "bytes", "kB");
	CHECK_STR(b, "0.98kB");
	units_label(b, sizeof(b), 1, "bytes", "GB");
	CHECK_STR(b, "0");	/* 0.00 rounds to nothing */
	units_label(b, sizeof(b), -2048, "bytes", "minimum");
	CHECK_STR(b, "-2kB");
}

static void test_label_time_and_count(void)
{
	char b[64];
	units_label(b, sizeof(b), 10000000, "nanoseconds", "minimum");
	CHECK_STR(b, "10ms");
	units_label(b, sizeof(b), 1500000000, "nanoseconds", "auto");
	CHECK_STR(b, "1.50s");
	units_label(b, sizeof(b), 7200000000000LL, "nanoseconds", "auto");
	CHECK_STR(b, "2hrs");
	units_label(b, sizeof(b), 1234, "count", "count");
	CHECK_STR(b, "1234");
	units_label(b, sizeof(b), 5, "samples", "minimum");
	CHECK_STR(b, "5");
}

static void test_percentage(void)
{
	char b[32];
	units_percentage(b, sizeof(b), 1, 1);
	CHECK_STR(b, "  100%");
	units_percentage(b, sizeof(b), 9996, 10000);
	CHECK_STR(b, "  100%");
	units_percentage(b, sizeof(b), 1234, 10000);
	CHECK_STR(b, "12.34%");
	units_percentage(b, sizeof(b), 5, 1000);
	CHECK_STR(b, "  0.5%");
	units_percentage(b, sizeof(b), 0, 1000);
	CHECK_STR(b, "    0%");
	units_percentage(b, sizeof(b), 1, 0);
	CHECK_STR(b, "    0%");
}

static void test_canonical(void)
{
	CHECK_STR(units_canonical("kb"), "kB");
	CHECK_STR(units_canonical("MB"), "MB");
	CHECK_STR(units_canonical("bytes"), "B");
	CHECK_STR(units_canonical("seconds"), "s");
	CHECK(units_canonical("parsecs") == NULL);
}

static void test_parse_bytes(void)
{
	uint64_t v = 0;
	CHECK(units_parse_bytes("4096", 1ULL << 40, &v) == 0 && v == 4096);
	CHECK(units_parse_bytes("4k", 1ULL << 40, &v) == 0 && v == 4096);
	CHECK(units_parse_bytes("512KiB", 1ULL << 40, &v) == 0 && v == 512 * 1024);
	CHECK(units_parse_bytes("1M", 1ULL << 40, &v) == 0 && v == 1 << 20);
	CHECK(units_parse_bytes("2gB", 1ULL << 40, &v) == 0 && v == 2ULL << 30);
	CHECK(units_parse_bytes("7b", 1ULL << 40, &v) == 0 && v == 7);
	CHECK(units_parse_bytes("0", 1ULL << 40, &v) < 0);
	CHECK(units_parse_bytes("-1", 1ULL << 40, &v) < 0);
	CHECK(units_parse_bytes("1iB", 1ULL << 40, &v) < 0);
	CHECK(units_parse_bytes("4x", 1ULL << 40, &v) < 0);
	CHECK(units_parse_bytes("", 1ULL << 40, &v) < 0);
	CHECK(units_parse_bytes("2G", 1ULL << 30, &v) < 0);
	CHECK(units_parse_bytes("1G", 1ULL << 30, &v) == 0);
}

const struct unit_test units_tests[] = {
	{ "units: byte counts as users type them (run --rate, --max-profile-size)", test_parse_bytes },
	{ "units: byte labels", test_label_bytes },
	{ "units: time and count labels", test_label_time_and_count },
	{ "units: percentages", test_percentage },
	{ "units: unit names", test_canonical },
	{ NULL, NULL },
};
