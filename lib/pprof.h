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

/* Largest decompressed profile accepted (protobuf's own limit is 2 GiB). */
#define PPROF_MAX_DECODED ((size_t)2 << 30)

/* Decodes a profile from data (gzip-compressed when it starts with 1f 8b,
 * raw protobuf otherwise) and checks pprof's validity rules. Memory used is
 * bounded by a fixed multiple of the decoded size. Returns a profile the
 * caller frees with profile_free, or NULL with err filled in. */
struct profile *pprof_decode(const void *data, size_t len, struct pprof_error *err);

/* Reads and decodes the file at path (see pprof_decode). */
struct profile *pprof_read(const char *path, struct pprof_error *err);

/* Encodes p as protobuf, gzip-compressed when gzip is set. On success
 * returns 0 and a malloc'd buffer in *out that the caller frees; on failure
 * a negative errno. */
int pprof_encode(const struct profile *p, int gzip, uint8_t **out, size_t *out_len);

/* Writes p gzip-compressed to path atomically: a private temporary file
 * beside it, then rename, so readers never see a partial profile. An
 * existing symlink at path is replaced, not written through. Returns 0 or a
 * negative errno (nothing is left behind on failure). */
int pprof_write(const struct profile *p, const char *path);

#endif
