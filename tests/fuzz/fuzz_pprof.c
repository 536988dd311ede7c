/* fuzz_pprof.c - libFuzzer target for the profile reader and the reports
 * that run on what it accepts. Build and run with `make fuzz`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/html_report.h"
#include "lib/pprof.h"
#include "lib/profile.h"
#include "lib/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pprof_error err;
	struct profile *p = pprof_decode(data, size, &err);
	if (!p)
		return 0;
	static FILE *devnull;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (p->n_sample_type > 0) {
		struct report_options o = REPORT_OPTIONS_INIT;
		o.sample_index = profile_sample_index(p, NULL);
		o.node_count = 0;
		report_top(devnull, p, &o);
		char msg[256];
		o.source_path = "/nonexistent";
		report_list(devnull, p, ".", &o, msg, sizeof(msg));
		/* the report page, with the profile as its own base */
		struct html_report_options h = HTML_REPORT_OPTIONS_INIT;
		h.sample_index = o.sample_index;
		h.source_path = "/nonexistent";
		h.max_frames = 1000;
		h.base = size % 2 ? p : NULL;
		char *page;
		size_t page_len;
		if (html_report_build(p, &h, &page, &page_len, NULL, msg, sizeof(msg)) == 0)
			free(page);
	}
	uint8_t *out;
	size_t len;
	if (pprof_encode(p, 0, &out, &len) == 0) {
		struct profile *q = pprof_decode(out, len, &err);
		if (!q)
			abort();	/* what we write we must read back */
		profile_free(q);
		free(out);
	}
	profile_free(p);
	return 0;
}
