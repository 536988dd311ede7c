/* memprof.h - what the subcommands share: their entry points, usage text and
 * the options common to the reports. */
#ifndef MEMPROF_CMD_H
#define MEMPROF_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/filter.h"
#include "lib/pprof.h"
#include "lib/profile.h"
#include "lib/report.h"

#define MEMPROF_VERSION "0.1.0"

int cmd_top(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_traces(int argc, char **argv);
int cmd_peek(int argc, char **argv);
int cmd_tree(int argc, char **argv);
int cmd_tags(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_timeline(int argc, char **argv);
int cmd_leaks(int argc, char **argv);
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
 * more: other profiles of this collector follow (snapshots), so its
 * symbols are kept for them. With keep, *keep gets the profile written
 * (the caller frees it) or NULL. Returns 0, or -1 after printing the
 * error. */
int write_profile(struct collector *c, const char *out, const char *const *comments, bool quiet,
		  bool recording, bool more, struct profile **keep);

/* memprof run --split: a profile per process image that allocated, each
 * built and written as write_profile does, to dir/memprof.PROG.PID.pb.gz
 * (PROG.PID.INCARNATION when one pid ran one program twice). comments[0]
 * is memprof's version, comments[1] the run's "command: " line. Returns 0,
 * or -1 after printing the error (the others are written still). */
int write_split_profiles(struct collector *c, const char *dir, const char *const *comments,
			 bool quiet);

/* How a profile named by a URL is fetched (cmd/fetch.c): pprof's -seconds
 * and -timeout, 0 when not given. */
struct fetch_options {
	int seconds;			/* --seconds=N: ?seconds=N in the URL */
	int timeout;			/* --timeout=N: give up after N seconds */
};

/* Takes argv[*i] if it is --seconds or --timeout (also -seconds=N,
 * -timeout N, as pprof spells them), moving *i past a separate value.
 * Returns 1 when taken, 0 when not one of them, -1 after printing the
 * error. */
int fetch_args_parse(const char *cmd, int argc, char **argv, int *i, struct fetch_options *fo);

/* Whether source is a URL by go tool pprof's rules (see http_url_adjust):
 * http://HOST:PORT/PATH, HOST:PORT/PATH or HOST:PORT. */
bool fetch_is_url(const char *source);

/* Reads the profile source names: a file (pprof_read_limited), or a URL
 * by go tool pprof's rules, fetched over HTTP after printing pprof's
 * "Fetching profile over HTTP from URL" line on stderr (fo may be NULL:
 * the defaults). The body is bounded by limits->max_size (NULL: the
 * defaults). Returns a profile the caller frees with profile_free, or
 * NULL with err filled in (one line naming neither source nor URL) and
 * *exceeded (when not NULL) set as pprof_read_limited sets it. */
struct profile *fetch_profile(const char *source, const struct fetch_options *fo,
			      const struct pprof_limits *limits, enum pprof_limit *exceeded,
			      struct pprof_error *err);

/* The options of the reports (top, list, traces, peek, tree, tags), as
 * parsed from the command line. */
struct report_args {
	struct report_options opts;
	struct pprof_limits limits;	/* --max-profile-size, --max-elements */
	struct fetch_options fetch;	/* --seconds, --timeout (URLs) */
	const char *sample_index;	/* as given, resolved once the file is read */
	const char **positional;	/* the arguments that are not options */
	int n_positional;
	const char **files;		/* the profiles: positional's last ones */
	size_t n_files;
	struct filter_options filters;	/* -focus, -tagfocus, ... */
	bool relative;			/* -relative_percentages */
	char *active_filters[10];	/* as the report's header lists them */
	size_t n_active_filters;
	const char **base;		/* --base or --diff-base files (argv's) */
	size_t n_base;
	bool diff_base;			/* they were given as --diff-base */
	bool folded;			/* top --folded */
	/* which processes (see report_args.c, "processes"): --pid=N,...
	 * and --program=NAME,... as given; --full-names */
	const char *pids, *programs;
	bool full_names;
	bool merge;			/* merge even one profile, as pprof
					 * does (traces prints its samples) */
	struct profile_label_units label_units;	/* before filtering */
};

/* Parses argv[1..] into args, with cmd's defaults (pprof's -nodecount is
 * 80 but for top; peek never trims). Recognises memprof's --long options and
 * pprof's spellings (-sample_index=, -inuse_space, -nodecount=, -cum,
 * -base=, -diff_base=, -focus=, -lines, -trim=false, ...), and the
 * reader's limits (--max-profile-size=, --max-elements=). The first
 * max_positional - 1 arguments that are not options come first (list's
 * REGEX), then one profile or more (args->files). Bad regexes and
 * conflicting options are refused here. Returns 0, 1 when --help was asked
 * (and printed), or -1 after printing a usage error; release args in every
 * case. */
int report_args_parse(const char *cmd, int argc, char **argv, struct report_args *args,
		      int max_positional);

/* Reads the profile at path within args->limits (when several profiles
 * were given, path is the first: all are read and merged as go tool pprof
 * merges them), subtracts the base profiles (as go tool pprof's -base and
 * -diff_base do), resolves args->sample_index in the result, takes the
 * total that percentages are of (into args->opts) and applies the filters
 * (-focus, ...; warning about those that matched nothing); prints an error
 * naming the file (and, when a limit was hit, the option that raises it)
 * and returns NULL on failure. */
struct profile *report_args_load(const char *path, struct report_args *args);

/* Frees what report_args_parse allocated. */
void report_args_release(struct report_args *args);

/* The leak options that run and leaks share (cmd/leaks.c). */
#define LEAK_ARGS_MAX_FILES 32
struct leak_args {
	const char *files[LEAK_ARGS_MAX_FILES];	/* --suppressions=FILE, in order */
	size_t n_files;
	bool no_defaults;		/* --no-default-suppressions */
	bool fail;			/* --fail-on-leak[=BYTES] */
	uint64_t limit;			/* its BYTES, default 0 */
};

/* Takes argv[*i] if it is one of the leak options (moving *i past a
 * separate value). Returns 1 when taken, 0 when not a leak option, -1
 * after printing the error. */
int leak_args_parse(const char *cmd, int argc, char **argv, int *i, struct leak_args *la);

struct leak_suppressions;
/* The defaults (unless --no-default-suppressions), then each file. Returns
 * the list, or NULL after printing an error naming the file and line. */
struct leak_suppressions *leak_args_suppressions(const struct leak_args *la);

/* memprof run's --fail-on-leak: whether p's heap in use at exit after the
 * suppressions s exceeds limit bytes; if so, prints the largest stacks on
 * stderr, naming path (the profile written) for the rest. Returns 1 (over),
 * 0, or -1 after printing the error. */
int leak_gate(const struct profile *p, const struct leak_suppressions *s, uint64_t limit,
	      const char *path);

#endif
