/* units.h - pprof's value formatting: unit scaling and percentages, as
 * google/pprof's internal/measurement prints them. */
#ifndef MEMPROF_UNITS_H
#define MEMPROF_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Scales value from from_unit to to_unit ("minimum" or "auto" pick the
 * largest unit in which the value is >= 1). *unit gets the unit's
 * canonical name ("" for counts). */
double units_scale(int64_t value, const char *from_unit, const char *to_unit,
		   const char **unit);

/* Formats value like pprof: "%.2f" without a trailing ".00", then the unit;
 * "0" for zero. */
void units_label(char *buf, size_t size, int64_t value, const char *from_unit,
		 const char *to_unit);

/* "  100%", "%5.2f%%" or, under 1%, "%5.2g%%". */
void units_percentage(char *buf, size_t size, int64_t value, int64_t total);

/* Returns the canonical unit named by s (case-insensitive, aliases and a
 * plural "s" accepted: "kb", "MB", "seconds"), or NULL if s names none. */
const char *units_canonical(const char *s);

/* A byte count as users type it: digits, optionally k, M or G (powers of
 * 1024, either case), then optionally "B", "b" or, after a multiplier,
 * "iB": "4096", "4k", "512KiB", "1M". Returns 0 with *out in 1..max, or
 * -EINVAL. */
int units_parse_bytes(const char *s, uint64_t max, uint64_t *out);

/* A plain decimal count (digits only) in min..max. Returns 0 with *out
 * set, or -EINVAL. */
int units_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* "30s", "5m", "1h", "500ms", "10" (seconds): milliseconds, or -1. */
int64_t units_parse_duration(const char *v);

#endif
