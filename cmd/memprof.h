/* memprof.h - what the subcommands share: their entry points, usage text and
 * the options common to the reports. */
#ifndef MEMPROF_CMD_H
#define MEMPROF_CMD_H

#include <stdbool.h>

#include "lib/pprof.h"
#include "lib/report.h"

#define MEMPROF_VERSION "0.1.0"

int cmd_top(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);

/* Prints "memprof: <message>" on stderr. */
void error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the usage of cmd and returns 2 (the exit status for usage errors).
 * With to_stdout, prints the full help on stdout and returns 0. */
int usage(const char *cmd, bool to_stdout);

struct collector;

/* The output must be one output_check (lib/output.h) accepts: called
 * before any work, so a bad -o costs nothing. Prints the error naming out
 * and returns -1 otherwise. */
int check_output(const char *out);

/* Builds the profile from c, writes it atomically to out and (unless
 * quiet) prints the one-line summary, then warns about lost data (with
 * recording: also processes that ended without their final flush).
 * Returns 0, or -1 after printing the error. */
int write_profile(struct collector *c, const char *out, const char *const *comments, bool quiet,
		  bool recording);

/* The options top and list share, as parsed from the command line. */
struct report_args {
	struct report_options opts;
	struct pprof_limits limits;	/* --max-profile-size, --max-elements */
	const char *sample_index;	/* as given, resolved once the file is read */
	const char *positional[2];
	int n_positional;
};

/* Parses argv[1..] into args. Recognises memprof's --long options and
 * pprof's spellings (-sample_index=, -inuse_space, -nodecount=, -cum, ...),
 * and the reader's limits (--max-profile-size=, --max-elements=).
 * Returns 0, 1 when --help was asked (and printed), or -1 after printing a
 * usage error. */
int report_args_parse(const char *cmd, int argc, char **argv, struct report_args *args,
		      int max_positional);

/* Reads the profile at path within args->limits and resolves
 * args->sample_index in it; prints an error naming the file (and, when a
 * limit was hit, the option that raises it) and returns NULL on failure. */
struct profile *report_args_load(const char *path, struct report_args *args);

#endif
