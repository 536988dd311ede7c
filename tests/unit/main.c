/* main.c - runs the unit tests; prints "ok"/"FAIL" per test and exits 1 on
 * any failure. With arguments it is a helper for the shell tests:
 *   test-unit roundtrip IN OUT   read IN, write it to OUT with pprof_write
 *   test-unit report-demo OUT [--base]
 *                                the report page of a crafted profile with a
 *                                heap-over-time series (see test_html_report.c) */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "lib/pprof.h"
#include "lib/profile.h"

int harness_failures;

static int roundtrip(const char *in, const char *out)
{
	struct pprof_error err;
	struct profile *p = pprof_read(in, &err);
	if (!p) {
		fprintf(stderr, "%s: %s\n", in, err.msg);
		return 1;
	}
	int rc = pprof_write(p, out);
	profile_free(p);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", out, strerror(-rc));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "roundtrip") == 0)
		return roundtrip(argv[2], argv[3]);
	if ((argc == 3 || (argc == 4 && !strcmp(argv[3], "--base"))) &&
	    !strcmp(argv[1], "report-demo"))
		return report_demo(argv[2], argc == 4);
	const struct unit_test *tables[] = { units_tests, pprof_tests, graph_tests, collect_tests,
					     tracker_tests, symbolize_tests, output_tests,
					     profile_tests, leaks_tests, filter_tests, html_report_tests,
					     tabwriter_tests, http_get_tests, collect_extra_tests, hex_tests,
					     addrmap_tests, ring_tests };
	int failed = 0, passed = 0;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct unit_test *u = tables[t]; u->name; u++) {
			int before = harness_failures;
			u->fn();
			if (harness_failures != before) {
				printf("FAIL unit: %s\n", u->name);
				failed++;
			} else {
				printf("ok   unit: %s\n", u->name);
				passed++;
			}
		}
	return failed ? 1 : 0;
}
