/* top.c - memprof top: pprof's top report, or folded stacks. */
#include <stdio.h>
#include <string.h>

#include "lib/profile.h"
#include "memprof.h"

int cmd_top(int argc, char **argv)
{
	struct report_args args;
	struct profile *p = NULL;
	int rc = report_args_parse("top", argc, argv, &args, 1);
	if (rc) {
		rc = rc > 0 ? 0 : 2;
		goto out;
	}
	if (!(p = report_args_load(args.positional[0], &args))) {
		rc = 1;
		goto out;
	}
	if (args.folded)
		rc = report_folded(stdout, p, &args.opts);
	else
		rc = report_top(stdout, p, &args.opts);
	if (rc < 0)
		error("%s: %s", args.positional[0], strerror(-rc));
	rc = rc < 0;
out:
	profile_free(p);
	report_args_release(&args);
	return rc;
}
