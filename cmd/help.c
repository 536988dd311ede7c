/* help.c - usage text for memprof and each subcommand. */
#include <stdio.h>
#include <string.h>

#include "memprof.h"

struct help {
	const char *cmd;
	const char *synopsis;
	const char *text;
};

static const struct help helps[] = {
	{ NULL, "memprof <command> [options] [args]",
	  "memprof is a sampling heap profiler for C and C++ programs.\n"
	  "\n"
	  "Commands:\n"
	  "  run      run a program and write its heap profile (pprof format)\n"
	  "  top      print the functions that allocate the most, like pprof's top\n"
	  "  list     print annotated source of functions, like pprof's list\n"
	  "  report   write a profile as one self-contained HTML page\n"
	  "  convert  turn a standalone recording (MEMPROF_OUT) into a profile\n"
	  "  help     print help for a command\n"
	  "  version  print memprof's version\n"
	  "\n"
	  "See 'memprof help <command>' or man memprof-<command>.\n" },
	{ "top", "memprof top [options] FILE",
	  "Prints the nodes (functions) with the highest flat values in the pprof\n"
	  "profile FILE (gzip-compressed or raw), as go tool pprof's top does.\n"
	  "\n"
	  "Options:\n"
	  "  --sample-index=NAME|N  value to report (default: the profile's default\n"
	  "                         sample type, else its last); also -sample_index=,\n"
	  "                         -inuse_space, -inuse_objects, -alloc_space,\n"
	  "                         -alloc_objects\n"
	  "  -n, --nodecount=N      rows to print (default 10; 0 prints all)\n"
	  "  --cum                  order by cumulative value\n"
	  "  --nodefraction=F       hide nodes with cum under F of the total\n"
	  "                         (default 0.005)\n"
	  "  --unit=UNIT            print values in UNIT (B, kB, MB, GB, ns, ms, s, ...)\n"
	  "  --max-profile-size=BYTES\n"
	  "                         refuse a profile larger than BYTES, as a file or\n"
	  "                         decompressed (default 1G; at most 2G)\n"
	  "  --max-elements=N       refuse a profile with more than N strings, samples,\n"
	  "                         mappings, locations, functions, lines and labels\n"
	  "                         in all (default 4194304)\n"
	  "  -h, --help             print this help\n" },
	{ "list", "memprof list [options] REGEX FILE",
	  "Prints the source of each function whose name matches REGEX (a POSIX\n"
	  "extended regular expression), with the flat and cumulative values of\n"
	  "each line, as go tool pprof's list does.\n"
	  "\n"
	  "Options:\n"
	  "  --source-path=DIRS     where to look for source files (':'-separated;\n"
	  "                         default: the current directory and its parents)\n"
	  "  --trim-path=PREFIXES   prefixes to remove from file names in the profile\n"
	  "  --sample-index=NAME|N  value to report (see memprof help top)\n"
	  "  --unit=UNIT            print values in UNIT\n"
	  "  --max-profile-size=BYTES, --max-elements=N\n"
	  "                         limits on the profile (see memprof help top)\n"
	  "  -h, --help             print this help\n" },
	{ "report", "memprof report [-o FILE] [--base=FILE | --diff-base=FILE] [options] PROFILE",
	  "Writes PROFILE as one HTML page that opens from disk in any browser and\n"
	  "fetches nothing: a summary, the heap over time, a flame graph for each\n"
	  "sample type (click to zoom, search, hover for values), the top table and\n"
	  "the source of the functions that allocate the most, as list prints it.\n"
	  "\n"
	  "Options:\n"
	  "  -o, --output=FILE      page to write (default: PROFILE with .pb.gz replaced\n"
	  "                         by .html, or .html added; - for stdout)\n"
	  "  --base=FILE            show PROFILE minus FILE, as pprof's -base does\n"
	  "  --diff-base=FILE       show the differences from FILE, as percentages of\n"
	  "                         FILE's total, as pprof's -diff_base does\n"
	  "  --sample-index=NAME|N  the sample type shown first (see memprof help top)\n"
	  "  --min-frame=SHARE      merge frames under SHARE of every sample type, with\n"
	  "                         their callees, into [other] (default 0.01%)\n"
	  "  --max-frames=N         at most N flame graph frames (default 100000; the\n"
	  "                         share above doubles until they fit)\n"
	  "  --lists=N              embed the source of the N functions with the\n"
	  "                         largest flat values (default 30)\n"
	  "  --source-path=DIRS, --trim-path=PREFIXES\n"
	  "                         where the sources are (see memprof help list)\n"
	  "  --max-profile-size=BYTES, --max-elements=N\n"
	  "                         limits on the profiles (see memprof help top)\n"
	  "  -q, --quiet            do not print what was written\n"
	  "  -h, --help             print this help\n" },
	{ "run", "memprof run [-o FILE] [--rate BYTES] [--max-wait DURATION] [-q] [-v] [--] PROGRAM [ARGS...]",
	  "Runs PROGRAM with memprof's allocation tracker preloaded and, when it\n"
	  "ends, writes a symbolized, gzip-compressed pprof heap profile.\n"
	  "\n"
	  "Options:\n"
	  "  -o, --output=FILE  profile to write (default memprof.PROGRAM.PID.pb.gz;\n"
	  "                     - for stdout, shared with PROGRAM)\n"
	  "  -r, --rate=BYTES   mean bytes between samples (default 512KiB; 1 records\n"
	  "                     every allocation); takes 4096, 4k, 512KiB, 1M\n"
	  "  --max-wait=DURATION  after PROGRAM exits, wait at most this long (500ms,\n"
	  "                     30s, 5m) for the processes it left running\n"
	  "  -q, --quiet        do not print the summary line\n"
	  "  -v, --verbose      also print the CPU time of the program and of memprof\n"
	  "  -h, --help         print this help\n"
	  "\n"
	  "memprof waits for every process PROGRAM started, as strace -f does. The\n"
	  "exit status is PROGRAM's; when a signal killed it, memprof ends by the\n"
	  "same signal.\n" },
	{ "convert", "memprof convert [-o FILE] RECORDING",
	  "Turns a recording written by the tracker in standalone mode\n"
	  "(LD_PRELOAD=libmemprof.so MEMPROF_OUT=RECORDING program) into a pprof\n"
	  "profile (default FILE: RECORDING.pb.gz).\n" },
	{ "help", "memprof help [COMMAND]", "Prints help for memprof or for COMMAND.\n" },
	{ "version", "memprof version", "Prints memprof's version.\n" },
};

static const struct help *find(const char *cmd)
{
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		if ((!cmd && !helps[i].cmd) || (cmd && helps[i].cmd && !strcmp(cmd, helps[i].cmd)))
			return &helps[i];
	return NULL;
}

int usage(const char *cmd, bool to_stdout)
{
	const struct help *h = find(cmd);
	if (!h)
		h = find(NULL);
	if (to_stdout) {
		printf("usage: %s\n\n%s", h->synopsis, h->text);
		return 0;
	}
	fprintf(stderr, "usage: %s\n", h->synopsis);
	return 2;
}

int cmd_help(int argc, char **argv)
{
	if (argc > 2)
		return usage("help", false);
	if (argc == 2 && !find(argv[1])) {
		error("no help for '%s': not a memprof command", argv[1]);
		return 2;
	}
	return usage(argc == 2 ? argv[1] : NULL, true);
}
