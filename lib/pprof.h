/* pprof.h - reading, validating and writing pprof profile.proto files. */
#ifndef MEMPROF_PPROF_H
#define MEMPROF_PPROF_H

#include <stddef.h>
#include <stdint.h>

struct profile;

/* What went wrong, for one line on stderr: "empty file",
 * "string_table[0] is not empty", ... (no file name, no trailing period). */
struct pprof_error {
	char msg[256];
};

/* Largest decompressed profile accepted at all (protobuf's own limit is
 * 2 GiB); max_size may not exceed it. */
#define PPROF_MAX_DECODED ((size_t)2 << 30)

/* How much a profile may hold. Memory grows with both: a few bytes of
 * gzip can inflate to hundreds of megabytes of tiny elements, each of
 * which costs 70 to 150 bytes once decoded. */
struct pprof_limits {
	/* bytes of protobuf (after decompression), and of the file read */
	size_t max_size;
	/* strings, sample types, samples, mappings, locations, functions,
	 * lines and labels, all together */
	size_t max_elements;
};

/* Defaults no real profile comes near (Go's largest heap profiles are tens
 * of MB; a million samples over 200000 locations are about 1.5 million
 * elements in 49 MB) that keep an element bomb under about 600 MB. */
#define PPROF_DEFAULT_MAX_SIZE ((size_t)1 << 30)
#define PPROF_DEFAULT_MAX_ELEMENTS ((size_t)1 << 22)
#define PPROF_LIMITS_INIT { PPROF_DEFAULT_MAX_SIZE, PPROF_DEFAULT_MAX_ELEMENTS }

/* Which limit a refused profile went over, so that the caller can say how
 * to raise it. */
enum pprof_limit {
	PPROF_LIMIT_NONE,
	PPROF_LIMIT_SIZE,	/* max_size */
	PPROF_LIMIT_ELEMENTS,	/* max_elements */
};

/* Decodes a profile from data (gzip-compressed when it starts with 1f 8b,
 * raw protobuf otherwise) and checks pprof's validity rules and the limits
 * (NULL for PPROF_LIMITS_INIT). Memory used is bounded by a fixed multiple
 * of the decoded size. Returns a profile the caller frees with
 * profile_free, or NULL with err filled in and, when exceeded is not NULL,
 * *exceeded set to the limit the profile went over (PPROF_LIMIT_NONE when
 * it failed for another reason). */
struct profile *pprof_decode_limited(const void *data, size_t len,
				     const struct pprof_limits *limits, enum pprof_limit *exceeded,
				     struct pprof_error *err);

/* pprof_decode_limited with the default limits. */
struct profile *pprof_decode(const void *data, size_t len, struct pprof_error *err);

/* Reads and decodes the file at path (see pprof_decode_limited); a file
 * larger than limits->max_size is refused before it is read to the end. */
struct profile *pprof_read_limited(const char *path, const struct pprof_limits *limits,
				   enum pprof_limit *exceeded, struct pprof_error *err);

/* pprof_read_limited with the default limits. */
struct profile *pprof_read(const char *path, struct pprof_error *err);

/* Encodes p as protobuf, gzip-compressed when gzip is set (at zlib's
 * fastest level when it is PPROF_GZIP_FAST, as Go's runtime/pprof writes
 * profiles: a third of the time for a fifth more bytes). On success
 * returns 0 and a malloc'd buffer in *out that the caller frees; on
 * failure a negative errno. */
#define PPROF_GZIP_FAST 2
int pprof_encode(const struct profile *p, int gzip, uint8_t **out, size_t *out_len);

/* Writes p gzip-compressed to path with output_write (lib/output.h): a
 * regular file or nothing is replaced atomically (temporary file beside it,
 * then rename), a character device, FIFO or "-" (stdout) is written in
 * place, a symlink is followed only where the kernel's protected_symlinks
 * rule would. Returns 0 or a negative errno (no temporary file is left
 * behind on failure). */
int pprof_write(const struct profile *p, const char *path);

#endif
