/* reports.c - memprof top, list, traces, peek, tree and tags: go tool
 * pprof's -top (or folded stacks), -list, -traces, -peek, -tree and -tags
 * reports, all with top's options and one way through them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/profile.h"
#include "memprof.h"

enum report_kind { TOP, LIST, TRACES, PEEK, TREE, TAGS };

/* Parses the options, reads the profiles and prints the report; returns
 * the exit status. */
static int run_report(const char *cmd, enum report_kind kind, int argc, char **argv)
{
	struct report_args args;
	struct profile *p = NULL;
	char msg[512] = "";	/* list's, peek's and tree's reason for -EINVAL */
	int rc = report_args_parse(cmd, argc, argv, &args, kind == LIST || kind == PEEK ? 2 : 1);
	if (rc) {
		rc = rc > 0 ? 0 : 2;
		goto out;
	}
	args.merge = kind == TRACES;	/* pprof lists its merged profile's samples */
	if (!(p = report_args_load(args.files[0], &args))) {
		rc = 1;
		goto out;
	}
	switch (kind) {
	case TOP:
		if (args.folded)
			rc = report_folded(stdout, p, &args.opts);
		else
			rc = report_top(stdout, p, &args.opts);
		break;
	case LIST:
		rc = report_list(stdout, p, args.positional[0], &args.opts, msg, sizeof(msg));
		break;
	case TRACES:
		rc = report_traces(stdout, p, &args.opts);
		break;
	case PEEK:
	case TREE:
		rc = report_tree(stdout, p, kind == PEEK ? args.positional[0] : NULL, &args.opts,
				 msg, sizeof(msg));
		break;
	case TAGS:
		rc = report_tags(stdout, p, &args.opts);
		break;
	}
	if (rc == -EINVAL && *msg)
		error("%s", msg);
	else if (rc < 0)
		error("%s: %s", args.files[0], strerror(-rc));
	rc = rc < 0;
out:
	profile_free(p);
	report_args_release(&args);
	return rc;
}

int cmd_top(int argc, char **argv)
{
	return run_report("top", TOP, argc, argv);
}

int cmd_list(int argc, char **argv)
{
	return run_report("list", LIST, argc, argv);
}

int cmd_traces(int argc, char **argv)
{
	return run_report("traces", TRACES, argc, argv);
}

int cmd_peek(int argc, char **argv)
{
	return run_report("peek", PEEK, argc, argv);
}

int cmd_tree(int argc, char **argv)
{
	return run_report("tree", TREE, argc, argv);
}

int cmd_tags(int argc, char **argv)
{
	return run_report("tags", TAGS, argc, argv);
}
