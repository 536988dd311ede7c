/* fuzz_recording.c - libFuzzer target for memprof convert's reader: a
 * standalone recording (file header, batches of records) into the
 * collector. Inputs are taken as recordings (the header is supplied when
 * missing, so the fuzzer spends its time on batches and records). Build and
 * run with `make fuzz`. The profile is not built: module paths in crafted
 * input would make the symbolizer open arbitrary files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/collect.h"
#include "lib/tracker/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct memprof_file_header h;
	uint8_t *buf = malloc(sizeof(h) + size);
	if (!buf)
		return 0;
	memcpy(h.magic, MEMPROF_FILE_MAGIC, sizeof(h.magic));
	h.token = 1;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), data, size);
	char err[256], warn[256];
	struct collector *c = collector_new();
	if (c) {
		collector_feed_recording(c, buf, sizeof(h) + size, err, sizeof(err), warn,
					 sizeof(warn));
		/* the same bytes as one process's ring */
		size_t used;
		collector_feed_records(c, 1, 2, data, size, &used);
		collector_bypassed(c);
		struct collector_proc_info info;
		for (size_t i = 0; collector_proc_info(c, i, &info); i++)
			;
	}
	collector_free(c);
	free(buf);
	return 0;
}
