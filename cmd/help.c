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
	  "  traces   print every sample with its stack, like pprof's traces\n"
	  "  peek     print the callers and callees of functions, like pprof's peek\n"
	  "  tree     print the call graph as text, like pprof's tree\n"
	  "  tags     print the labels and what each value accounts for, like\n"
	  "           pprof's tags\n"
	  "  leaks    print the stacks still in use at exit, as LeakSanitizer does\n"
	  "  report   write a profile as one self-contained HTML page\n"
	  "  convert  turn a standalone recording (MEMPROF_OUT) into a profile\n"
	  "  timeline print the heap over time that memprof run kept in a profile\n"
	  "  help     print help for a command\n"
	  "  version  print memprof's version\n"
	  "\n"
	  "See 'memprof help <command>' or man memprof-<command>.\n" },
	{ "top", "memprof top [options] [--base=BASE | --diff-base=BASE] FILE...",
	  "Prints the nodes (functions) with the highest flat values in the pprof\n"
	  "profile FILE (gzip-compressed or raw), as go tool pprof's top does.\n"
	  "Several FILEs are merged first, as pprof merges them. FILE (and BASE)\n"
	  "may be a URL, fetched as pprof fetches it: http://HOST:PORT/PATH, or\n"
	  "HOST:PORT/PATH; HOST:PORT alone is pprof's /debug/pprof/profile (Go's\n"
	  "CPU profile: name /debug/pprof/heap for the heap). Plain HTTP only.\n"
	  "\n"
	  "Options:\n"
	  "  --sample-index=NAME|N  value to report (default: the profile's default\n"
	  "                         sample type, else its last); also -sample_index=,\n"
	  "                         -inuse_space, -inuse_objects, -alloc_space,\n"
	  "                         -alloc_objects\n"
	  "  -n, --nodecount=N      rows to print (default 10; 0 prints all)\n"
	  "  --cum                  order by cumulative value (-flat: by flat value)\n"
	  "  --nodefraction=F       hide nodes with cum under F of the total\n"
	  "                         (default 0.005)\n"
	  "  --edgefraction=F       calls under F of the total make no (inline)\n"
	  "                         mark (default 0.001)\n"
	  "  -trim=false            no node count, node or edge fraction\n"
	  "\n"
	  "Filters, as pprof's (REGEX in RE2's syntax: (?i), \\d, \\b, \\Q...\\E):\n"
	  "  -focus=REGEX           samples with a frame (function, file or binary)\n"
	  "                         that matches\n"
	  "  -ignore=REGEX          not the samples with a frame that matches\n"
	  "  -hide=REGEX            matching frames taken out of the stacks\n"
	  "  -show=REGEX            only the matching frames kept in the stacks\n"
	  "  -show_from=REGEX       frames above the outermost match dropped\n"
	  "  -prune_from=REGEX      frames below the innermost match dropped\n"
	  "  -tagfocus=[KEY=]RANGE|REGEX[,REGEX]\n"
	  "                         samples with a matching label: a range such as\n"
	  "                         bytes=1kB:64kB, bytes=4MB:, bytes=:512B, pid=4242,\n"
	  "                         or regexes against string labels\n"
	  "  -tagignore=...         not the samples with a matching label\n"
	  "  -tagshow=REGEX, -taghide=REGEX\n"
	  "                         keep only, or drop, the labels whose key matches\n"
	  "  -relative_percentages  percentages of what the filters kept\n"
	  "Granularity, as pprof's: -functions (default), -lines, -files,\n"
	  "  -filefunctions, -addresses; -noinlines counts inlined frames to their\n"
	  "  caller. --source-path=DIRS and --trim-path=PREFIXES trim file names as\n"
	  "  list does.\n"
	  "\n"
	  "Other options:\n"
	  "  --unit=UNIT            print values in UNIT (B, kB, MB, GB, ns, ms, s, ...)\n"
	  "  --base=BASE            subtract profile BASE and report what is left, as\n"
	  "                         go tool pprof -base does (also -base=, -base BASE);\n"
	  "                         repeated, the bases are merged first\n"
	  "  --diff-base=BASE       the same, with percentages of BASE's total, as\n"
	  "                         go tool pprof -diff_base does (also -diff_base=)\n"
	  "  --folded               print folded stacks instead (\"main;f;g 4096\" per\n"
	  "                         line: the value at --sample-index for each stack,\n"
	  "                         inlined frames apart), for flamegraph.pl, inferno\n"
	  "                         or speedscope; negative after --base\n"
	  "  --max-profile-size=BYTES\n"
	  "                         refuse a profile larger than BYTES, as a file or\n"
	  "                         decompressed (default 1G; at most 2G)\n"
	  "  --max-elements=N       refuse a profile with more than N strings, samples,\n"
	  "                         mappings, locations, functions, lines and labels\n"
	  "                         in all (default 4194304)\n"
	  "  --seconds=N            for a URL: ask for N seconds of profile\n"
	  "                         (?seconds=N, as pprof -seconds)\n"
	  "  --timeout=SECONDS      for a URL: give up after SECONDS (default 60, or\n"
	  "                         1.5 times the seconds asked for)\n"
	  "  --pid=N[,N...]         only the samples of these processes (the pid\n"
	  "                         label of profiles of several processes)\n"
	  "  --program=NAME[,...]   only the samples of these programs (the program\n"
	  "                         label: an executable's base name, e.g. cc1)\n"
	  "                         --pid and --program keep samples as pprof's\n"
	  "                         -tagfocus=pid=N does, but totals and percentages\n"
	  "                         are those of the selection\n"
	  "  --full-names           C++ functions with parameters and template\n"
	  "                         arguments (pprof -symbolize=demangle=full); by\n"
	  "                         default, as pprof: std::vector::_M_realloc_insert\n"
	  "  -h, --help             print this help\n"
	  "\n"
	  "A profile of several processes says in its File: line the program that\n"
	  "allocated the most, and in a comment each program's share.\n" },
	{ "list", "memprof list [options] [--base=BASE | --diff-base=BASE] REGEX FILE...",
	  "Prints the source of each function whose name matches REGEX (RE2's\n"
	  "syntax, as pprof's: (?i), \\d, \\b, \\Q...\\E), with the flat and\n"
	  "cumulative values of each line, as go tool pprof's list does. Several\n"
	  "FILEs are merged first.\n"
	  "\n"
	  "Options:\n"
	  "  --source-path=DIRS     where to look for source files (':'-separated;\n"
	  "                         default: the current directory and its parents)\n"
	  "  --trim-path=PREFIXES   prefixes to remove from file names in the profile\n"
	  "  --sample-index=NAME|N  value to report (see memprof help top)\n"
	  "  --unit=UNIT            print values in UNIT\n"
	  "  --base=BASE, --diff-base=BASE\n"
	  "                         list FILE minus BASE, as go tool pprof -base and\n"
	  "                         -diff_base do (see memprof help top)\n"
	  "  --max-profile-size=BYTES, --max-elements=N\n"
	  "                         limits on the profile (see memprof help top)\n"
	  "  --seconds=N, --timeout=SECONDS\n"
	  "                         for a FILE that is a URL (see memprof help top)\n"
	  "  -focus=REGEX, -ignore=, -hide=, -show=, -show_from=, -prune_from=,\n"
	  "  -tagfocus=, -tagignore=, -tagshow=, -taghide=, -noinlines,\n"
	  "  -relative_percentages\n"
	  "                         pprof's filters (see memprof help top)\n"
	  "  --pid=N, --program=NAME, --full-names\n"
	  "                         which processes, and C++ names (see memprof\n"
	  "                         help top)\n"
	  "  -h, --help             print this help\n" },
	{ "traces", "memprof traces [options] [--base=BASE | --diff-base=BASE] FILE...",
	  "Prints every sample of the pprof profile FILE with a stack, in the\n"
	  "profile's order, as go tool pprof -traces does: its labels, its value\n"
	  "and its frames, leaf first (inlined frames marked). Several FILEs are\n"
	  "merged first, and so is one: samples with the same stack and labels are\n"
	  "one sample, as in pprof.\n"
	  "\n"
	  "Options: top's (see memprof help top): --sample-index=, --unit=, the\n"
	  "filters (-focus=, -ignore=, -hide=, -show=, -show_from=, -prune_from=,\n"
	  "-tagfocus=, -tagignore=, -tagshow=, -taghide=), the granularities\n"
	  "(-lines, -files, -filefunctions, -addresses, -noinlines), --base=,\n"
	  "--diff-base=, -relative_percentages, --max-profile-size=,\n"
	  "--max-elements=, --seconds=, --timeout= (FILE may be a URL);\n"
	  "-h, --help prints this help.\n" },
	{ "peek", "memprof peek [options] [--base=BASE | --diff-base=BASE] REGEX FILE...",
	  "Prints each node (function) whose name matches REGEX (RE2's syntax, as\n"
	  "pprof's), with its callers above and its callees below and the share of\n"
	  "its cumulative value each call accounts for, as go tool pprof\n"
	  "-peek=REGEX does. Like pprof's peek, it shows every node: -nodecount,\n"
	  "-nodefraction and -edgefraction do not apply. Exits with status 1 when\n"
	  "nothing matches.\n"
	  "\n"
	  "Options: top's (see memprof help top): --sample-index=, --unit=, --cum,\n"
	  "the filters, the granularities, --base=, --diff-base=,\n"
	  "-relative_percentages, --max-profile-size=, --max-elements=,\n"
	  "--seconds=, --timeout= (FILE may be a URL); -h, --help prints this help.\n" },
	{ "tree", "memprof tree [options] [--base=BASE | --diff-base=BASE] FILE...",
	  "Prints the call graph of the pprof profile FILE as text, as go tool\n"
	  "pprof -tree does: top's nodes in top's order, each with its callers\n"
	  "above and its callees below (\"calls\": the value through that call,\n"
	  "\"calls%\": its share of the node's cumulative value).\n"
	  "\n"
	  "Options: top's (see memprof help top), with pprof's defaults for tree:\n"
	  "  -n, --nodecount=N      nodes to print (default 80; 0 prints all)\n"
	  "  --nodefraction=F       hide nodes with cum under F of the total\n"
	  "                         (default 0.005)\n"
	  "  --edgefraction=F       hide calls under F of the total (default 0.001)\n"
	  "  -trim=false            none of these three\n"
	  "and --sample-index=, --unit=, --cum, the filters, the granularities,\n"
	  "--base=, --diff-base=, -relative_percentages, --max-profile-size=,\n"
	  "--max-elements=, --seconds=, --timeout= (FILE may be a URL);\n"
	  "-h, --help prints this help.\n" },
	{ "tags", "memprof tags [options] [--base=BASE | --diff-base=BASE] FILE...",
	  "Prints each label key of the pprof profile FILE with the values it takes\n"
	  "and the sum of the samples' values for each, largest first, as go tool\n"
	  "pprof -tags does. memprof's bytes label gives a histogram of allocation\n"
	  "sizes; pid, one of the processes.\n"
	  "\n"
	  "Options: top's (see memprof help top): --sample-index=, --unit= (which\n"
	  "also scales numeric labels), the filters, --base=, --diff-base=,\n"
	  "-relative_percentages, --max-profile-size=, --max-elements=,\n"
	  "--seconds=, --timeout= (FILE may be a URL); -h, --help prints this help.\n" },
	{ "leaks", "memprof leaks [--suppressions=FILE]... [--no-default-suppressions] [--fail-on-leak[=BYTES]] FILE",
	  "Prints each stack of the heap profile FILE with blocks still in use at\n"
	  "exit, largest first, as LeakSanitizer prints leaks: bytes, objects, and\n"
	  "the whole stack with file:line (inlined frames included), then the\n"
	  "suppressions used and a SUMMARY line.\n"
	  "\n"
	  "\"Leak\" here means in use at exit: still allocated when the program\n"
	  "ended, reachable or not. At a sampled rate (profile period > 1) the\n"
	  "figures are estimates, and the header says so. Any heap profile with\n"
	  "inuse_space works (Go's too: there, in use when it was written).\n"
	  "\n"
	  "Options:\n"
	  "  --suppressions=FILE    LeakSanitizer suppressions: leak:PATTERN lines\n"
	  "                         matched against each frame's function, source\n"
	  "                         file and library names (substring; '*' any run,\n"
	  "                         '^' start, '$' end), '#' comments; repeatable\n"
	  "  --no-default-suppressions\n"
	  "                         do not suppress the runtime's one-time blocks\n"
	  "                         (stdio buffers, the dynamic loader's, locale and\n"
	  "                         time zone data, libstdc++'s exception pool)\n"
	  "  --print-default-suppressions\n"
	  "                         print the default suppressions and exit\n"
	  "  --fail-on-leak[=BYTES] exit with status 23 when more than BYTES\n"
	  "                         (default 0; 10k, 1MiB...) are in use at exit\n"
	  "                         after suppressions\n"
	  "  --seconds=N, --timeout=SECONDS\n"
	  "                         for a FILE that is a URL (see memprof help top)\n"
	  "  -h, --help             print this help\n"
	  "\n"
	  "See docs/leaks.md for leak checks in CI.\n" },
	{ "report", "memprof report [-o FILE] [--base=FILE | --diff-base=FILE] [options] PROFILE",
	  "Writes PROFILE as one HTML page that opens from disk in any browser and\n"
	  "fetches nothing: a summary, the heap over time, a flame graph for each\n"
	  "sample type (click to zoom, search, hover for values), the top table and\n"
	  "the source of the functions that allocate the most, as list prints it.\n"
	  "\n"
	  "Options:\n"
	  "  -o, --output=FILE      page to write (default: PROFILE with .pb.gz replaced\n"
	  "                         by .html, or .html added; - for stdout)\n"
	  "  --base=FILE            show PROFILE minus FILE, as top --base does\n"
	  "  --diff-base=FILE       show the differences from FILE, as percentages of\n"
	  "                         FILE's total, as top --diff-base does\n"
	  "  --suppressions=FILE, --no-default-suppressions\n"
	  "                         what the summary's leaks leave out (see memprof\n"
	  "                         help leaks)\n"
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
	  "  --seconds=N, --timeout=SECONDS\n"
	  "                         for a PROFILE that is a URL (see memprof help\n"
	  "                         top); its page is written here, named after the\n"
	  "                         URL's last path segment (heap.html)\n"
	  "  -q, --quiet            do not print what was written\n"
	  "  -h, --help             print this help\n" },
	{ "run", "memprof run [-o FILE] [--rate BYTES] [--max-wait DURATION] [-q] [-v] [--fail-on-leak[=BYTES]] [--mmap] [--split] [--] PROGRAM [ARGS...]",
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
	  "  --interval=DURATION  also write a snapshot every DURATION while PROGRAM\n"
	  "                     runs: OUT.N.pb.gz (OUT: the output without .pb.gz),\n"
	  "                     cumulative like Go's heap profile; SIGUSR2 to\n"
	  "                     memprof writes one at once (it is not passed on)\n"
	  "  --keep=N           keep only the last N snapshots\n"
	  "  --mmap             also profile the anonymous mappings the program makes\n"
	  "                     itself (mmap, mremap, mprotect of PROT_NONE\n"
	  "                     reservations, brk/sbrk), in the mmap_alloc_objects,\n"
	  "                     mmap_alloc_space, mmap_inuse_objects and\n"
	  "                     mmap_inuse_space sample types (off by default: see\n"
	  "                     docs/mmap.md)\n"
	  "  --split            one profile per process image that allocated, named\n"
	  "                     memprof.PROGRAM.PID.pb.gz, in the directory -o names\n"
	  "                     (default: the current one; made if missing)\n"
	  "  -q, --quiet        do not print the summary line and hints\n"
	  "  -v, --verbose      also print the CPU time of the program and of memprof\n"
	  "  --fail-on-leak[=BYTES]\n"
	  "                     after writing the profile, exit with status 23 if\n"
	  "                     more than BYTES (default 0) are in use at exit after\n"
	  "                     suppressions and PROGRAM exited 0; runs at --rate 1\n"
	  "                     unless --rate is given (then the gate is statistical)\n"
	  "  --suppressions=FILE, --no-default-suppressions\n"
	  "                     the gate's suppressions (see memprof help leaks)\n"
	  "  -h, --help         print this help\n"
	  "\n"
	  "memprof waits for every process PROGRAM started, as strace -f does. The\n"
	  "exit status is PROGRAM's; when a signal killed it, memprof ends by the\n"
	  "same signal. With --fail-on-leak, a leak turns PROGRAM's status 0 into\n"
	  "23 (and an unprofiled PROGRAM into 1); any other status is kept.\n"
	  "\n"
	  "Every sample carries the labels program (the executable's base name) and\n"
	  "exe (its path); a profile of several processes also pid and cmdline (the\n"
	  "command line, read from /proc when the process starts; missing for one\n"
	  "that ended before memprof read it). The comment \"command:\" is quoted\n"
	  "so that it can be pasted back into a shell.\n" },
	{ "convert", "memprof convert [-o FILE] RECORDING",
	  "Turns a recording written by the tracker in standalone mode\n"
	  "(LD_PRELOAD=libmemprof.so MEMPROF_OUT=RECORDING program) into a pprof\n"
	  "profile (default FILE: RECORDING.pb.gz).\n" },
	{ "timeline", "memprof timeline [--pid=PID] FILE",
	  "Prints the heap over time that memprof run keeps in the profiles it\n"
	  "writes, as tab-separated columns: the interval's start (seconds since\n"
	  "the program started), the process, the highest heap in use during the\n"
	  "interval and the bytes allocated in it (both estimated as inuse_space and\n"
	  "alloc_space are), and the highest RSS seen in it ('-' when unknown).\n"
	  "Comment lines (#) give the interval and each process's peak.\n"
	  "Intervals start at 10ms and double as the run grows, to keep at most\n"
	  "2048 of them. Go's profiles, converted recordings and profiles rewritten\n"
	  "by pprof have no timeline.\n"
	  "\n"
	  "Options:\n"
	  "  --pid=PID  only this process\n"
	  "  --seconds=N, --timeout=SECONDS\n"
	  "             for a FILE that is a URL (see memprof help top)\n" },
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
