/* list.c - memprof list: pprof's annotated source listing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/profile.h"
#include "memprof.h"

int cmd_list(int argc, char **argv)
{
	struct report_args args;
	struct profile *p = NULL;
	char msg[512];
	int rc = report_args_parse("list", argc, argv, &args, 2);
	if (rc) {
		rc = rc > 0 ? 0 : 2;
		goto out;
	}
	if (!(p = report_args_load(args.positional[1], &args))) {
		rc = 1;
		goto out;
	}
	rc = report_list(stdout, p, args.positional[0], &args.opts, msg, sizeof(msg));
	if (rc == -EINVAL)
		error("%s", msg);
	else if (rc < 0)
		error("%s: %s", args.positional[1], strerror(-rc));
	rc = rc < 0;
out:
	profile_free(p);
	report_args_release(&args);
	return rc;
}
