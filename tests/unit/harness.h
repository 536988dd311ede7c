/* harness.h - a tiny unit-test harness: CHECK records a failure and goes on. */
#ifndef MEMPROF_HARNESS_H
#define MEMPROF_HARNESS_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

extern int harness_failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "    %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
		harness_failures++; \
	} \
} while (0)

#define CHECK_STR(got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	if (strcmp(g_, w_) != 0) { \
		fprintf(stderr, "    %s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, g_, w_); \
		harness_failures++; \
	} \
} while (0)

struct unit_test {
	const char *name;
	void (*fn)(void);
};

/* Each test file defines a table ending with { NULL, NULL }. */
extern const struct unit_test units_tests[], pprof_tests[], graph_tests[], collect_tests[],
	tracker_tests[], symbolize_tests[], output_tests[], profile_tests[], leaks_tests[],
	filter_tests[], html_report_tests[], tabwriter_tests[], http_get_tests[],
	collect_extra_tests[], hex_tests[], addrmap_tests[], ring_tests[];

/* test_html_report.c: writes the page of a crafted profile to out. */
int report_demo(const char *out, bool with_base);

#endif
