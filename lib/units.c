/* units.c - unit scaling and number formats matching pprof's measurement
 * package, so memprof's reports print the same numbers as go tool pprof. */
#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct unit {
	const char *name;
	const char *aliases[4];
	double factor;
};

struct unit_type {
	const struct unit *def;
	const struct unit *units;
	size_t n;
};

static const struct unit memory_units[] = {
	{ "B", { "b", "byte" }, 1 },
	{ "kB", { "kb", "kbyte", "kilobyte" }, 1024.0 },
	{ "MB", { "mb", "mbyte", "megabyte" }, 1048576.0 },
	{ "GB", { "gb", "gbyte", "gigabyte" }, 1073741824.0 },
	{ "TB", { "tb", "tbyte", "terabyte" }, 1099511627776.0 },
	{ "PB", { "pb", "pbyte", "petabyte" }, 1125899906842624.0 },
};

static const struct unit time_units[] = {
	{ "ns", { "ns", "nanosecond" }, 1 },
	{ "us", { "\xce\xbcs", "us", "microsecond" }, 1e3 },
	{ "ms", { "ms", "millisecond" }, 1e6 },
	{ "s", { "s", "sec", "second" }, 1e9 },
	{ "hrs", { "hour", "hr" }, 3600e9 },
};
static const struct unit time_default = { "s", { NULL }, 1e9 };

static const struct unit gcu_units[] = {
	{ "n*GCU", { "nanogcu" }, 1e-9 },
	{ "u*GCU", { "microgcu" }, 1e-6 },
	{ "m*GCU", { "milligcu" }, 1e-3 },
	{ "GCU", { "gcu" }, 1 },
	{ "k*GCU", { "kilogcu" }, 1e3 },
	{ "M*GCU", { "megagcu" }, 1e6 },
	{ "G*GCU", { "gigagcu" }, 1e9 },
	{ "T*GCU", { "teragcu" }, 1e12 },
	{ "P*GCU", { "petagcu" }, 1e15 },
};
static const struct unit gcu_default = { "GCU", { NULL }, 1 };

static const struct unit_type unit_types[] = {
	{ &memory_units[0], memory_units, sizeof(memory_units) / sizeof(memory_units[0]) },
	{ &time_default, time_units, sizeof(time_units) / sizeof(time_units[0]) },
	{ &gcu_default, gcu_units, sizeof(gcu_units) / sizeof(gcu_units[0]) },
};

/* pprof's sniffUnit: lower-case, drop one trailing 's' from names longer
 * than two characters, then look the alias up. */
static const struct unit *sniff(const struct unit_type *ut, const char *name)
{
	char buf[64];
	size_t n = strlen(name);
	if (n >= sizeof(buf))
		return NULL;
	for (size_t i = 0; i <= n; i++)
		buf[i] = (char)tolower((unsigned char)name[i]);
	if (n > 2 && buf[n - 1] == 's')
		buf[n - 1] = '\0';
	for (size_t i = 0; i < ut->n; i++)
		for (const char *const *a = ut->units[i].aliases; *a; a++)
			if (strcmp(*a, buf) == 0)
				return &ut->units[i];
	return NULL;
}

const char *units_canonical(const char *s)
{
	for (size_t t = 0; t < sizeof(unit_types) / sizeof(unit_types[0]); t++) {
		const struct unit *u = sniff(&unit_types[t], s);
		if (u)
			return u->name;
	}
	return NULL;
}

static bool convert(const struct unit_type *ut, int64_t value, const char *from,
		    const char *to, double *out, const char **unit)
{
	const struct unit *fu = sniff(ut, from);
	if (!fu)
		return false;
	double v = (double)value * fu->factor;
	if (strcmp(to, "minimum") == 0 || strcmp(to, "auto") == 0) {
		double f = 0;
		const char *name = NULL;
		for (size_t i = 0; i < ut->n; i++)
			if (ut->units[i].factor >= f && v / ut->units[i].factor >= 1.0) {
				f = ut->units[i].factor;
				name = ut->units[i].name;
			}
		if (f != 0) {
			*out = v / f;
			*unit = name;
		} else {
			*out = v / ut->def->factor;
			*unit = ut->def->name;
		}
		return true;
	}
	const struct unit *tu = sniff(ut, to);
	if (!tu)
		tu = ut->def;
	*out = v / tu->factor;
	*unit = tu->name;
	return true;
}

double units_scale(int64_t value, const char *from_unit, const char *to_unit,
		   const char **unit)
{
	if (value < 0 && -value > 0) {
		double v = units_scale(-value, from_unit, to_unit, unit);
		return -v;
	}
	for (size_t t = 0; t < sizeof(unit_types) / sizeof(unit_types[0]); t++) {
		double v;
		if (convert(&unit_types[t], value, from_unit, to_unit, &v, unit))
			return v;
	}
	if (!strcmp(to_unit, "count") || !strcmp(to_unit, "sample") || !strcmp(to_unit, "unit") ||
	    !strcmp(to_unit, "minimum") || !strcmp(to_unit, "auto"))
		*unit = "";
	else
		*unit = to_unit;
	return (double)value;
}

void units_label(char *buf, size_t size, int64_t value, const char *from_unit,
		 const char *to_unit)
{
	const char *unit;
	double v = units_scale(value, from_unit, to_unit, &unit);
	char num[64];
	snprintf(num, sizeof(num), "%.2f", v);
	size_t n = strlen(num);
	if (n > 3 && strcmp(num + n - 3, ".00") == 0)
		num[n - 3] = '\0';
	if (strcmp(num, "0") == 0 || strcmp(num, "-0") == 0)
		snprintf(buf, size, "0");
	else
		snprintf(buf, size, "%s%s", num, unit);
}

void units_percentage(char *buf, size_t size, int64_t value, int64_t total)
{
	double ratio = 0;
	if (total != 0)
		ratio = fabs((double)value / (double)total) * 100;
	if (ratio >= 99.95 && ratio <= 100.05)
		snprintf(buf, size, "  100%%");
	else if (ratio >= 1.0)
		snprintf(buf, size, "%5.2f%%", ratio);
	else
		snprintf(buf, size, "%5.2g%%", ratio);
}

int units_parse_bytes(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || !isdigit((unsigned char)*s))
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (!strcmp(end, "B") || !strcmp(end, "b") || (shift && !strcmp(end, "iB")))
		end += strlen(end);
	if (*end || v == 0 || v > max >> shift)
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

int units_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int64_t units_parse_duration(const char *v)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (errno || end == v || x < 0 || *v == '-')
		return -1;
	double scale = !strcmp(end, "ms") ? 1 : !strcmp(end, "") || !strcmp(end, "s") ? 1000
		     : !strcmp(end, "m") ? 60000 : !strcmp(end, "h") ? 3600000 : -1;
	if (scale < 0 || x * scale > 1e15)
		return -1;
	return (int64_t)(x * scale);
}
