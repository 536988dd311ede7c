/* pprof.c - the pprof codec: gzip, protobuf (via protobuf-c), validation,
 * and conversion to and from the profile model. */
#include "pprof.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "output.h"
#include "profile.h"
#include "timeline.h"
#include "proto/profile.pb-c.h"

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__ValueType PbValueType;
typedef Perftools__Profiles__Sample PbSample;
typedef Perftools__Profiles__Label PbLabel;
typedef Perftools__Profiles__Mapping PbMapping;
typedef Perftools__Profiles__Location PbLocation;
typedef Perftools__Profiles__Line PbLine;
typedef Perftools__Profiles__Function PbFunction;

static void seterr(struct pprof_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void seterr(struct pprof_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* ---- gzip ---------------------------------------------------------------- */

static int is_gzip(const uint8_t *d, size_t len)
{
	return len >= 2 && d[0] == 0x1f && d[1] == 0x8b;
}

/* An executable or library: 0x7f is field 15 with wire type 7, so no
 * protobuf starts like this. */
static bool is_elf(const uint8_t *d, size_t len)
{
	return len >= 4 && memcmp(d, "\x7f" "ELF", 4) == 0;
}

/* Which kind of ELF file d is, from its header (64-bit or 32-bit, either
 * byte order): "an ELF executable", "an ELF shared library", ... A
 * position-independent executable is ET_DYN like a library; it has a
 * program interpreter. */
static const char *elf_kind(const uint8_t *d, size_t len)
{
	if (len < 20)
		return "an ELF file";
	bool le = d[5] != 2, is64 = d[4] == 2;
	unsigned type = le ? d[16] | d[17] << 8 : d[17] | d[16] << 8;
	switch (type) {
	case 1:
		return "an ELF object file";
	case 2:
		return "an ELF executable";
	case 4:
		return "a core dump";
	case 3:
		break;
	default:
		return "an ELF file";
	}
	/* ET_DYN: an executable when a program header is PT_INTERP */
	uint64_t phoff = 0;
	unsigned phentsize = 0, phnum = 0;
	size_t need = is64 ? 64 : 52;
	if (len < need)
		return "an ELF shared library or executable";
	for (int i = (is64 ? 8 : 4) - 1; i >= 0; i--)
		phoff = phoff << 8 | d[(is64 ? 32 : 28) + (le ? i : (is64 ? 7 : 3) - i)];
	const uint8_t *h = d + (is64 ? 54 : 42);
	phentsize = le ? h[0] | h[1] << 8 : h[1] | h[0] << 8;
	phnum = le ? h[2] | h[3] << 8 : h[3] | h[2] << 8;
	for (unsigned i = 0; i < phnum && phentsize >= 4; i++) {
		uint64_t at = phoff + (uint64_t)i * phentsize;
		if (at > len || len - at < 4)
			return "an ELF shared library or executable";
		const uint8_t *ph = d + at;
		uint32_t pt = le ? ph[0] | ph[1] << 8 | ph[2] << 16 | (uint32_t)ph[3] << 24
				 : ph[3] | ph[2] << 8 | ph[1] << 16 | (uint32_t)ph[0] << 24;
		if (pt == 3)	/* PT_INTERP */
			return "an ELF executable";
	}
	return "an ELF shared library";
}

/* A failed parse of something that is mostly printable text gets a better
 * message than the wire error. */
static bool looks_like_text(const uint8_t *d, size_t len)
{
	size_t n = len < 512 ? len : 512, printable = 0;
	for (size_t i = 0; i < n; i++)
		if ((d[i] >= 0x20 && d[i] < 0x7f) || d[i] == '\n' || d[i] == '\t' || d[i] == '\r' ||
		    d[i] >= 0x80)	/* UTF-8 */
			printable++;
	return n > 0 && printable == n;
}

static bool starts(const uint8_t *d, size_t len, const char *magic, size_t n)
{
	return len >= n && memcmp(d, magic, n) == 0;
}

/* What d looks like when it is a kind of file people mistake for a pprof
 * profile ("an ELF executable", "a memprof recording (memprof convert
 * makes a profile of it)"), or NULL. gzipped: d is what a gzip file held. */
static const char *looks_like(const uint8_t *d, size_t len, bool gzipped)
{
	if (is_elf(d, len))
		return elf_kind(d, len);
	if (starts(d, len, "MPRFREC", 7))
		return "a memprof recording (memprof convert makes a profile of it)";
	if (starts(d, len, "PERFILE2", 8))
		return "a perf.data file";
	if (starts(d, len, "BZh", 3))
		return "bzip2-compressed data";
	if (starts(d, len, "\xfd" "7zXZ", 6))
		return "xz-compressed data";
	if (starts(d, len, "\x28\xb5\x2f\xfd", 4))
		return "zstd-compressed data";
	if (starts(d, len, "PK\x03\x04", 4))
		return "a zip archive";
	if (len >= 262 && !memcmp(d + 257, "ustar", 5))
		return "a tar archive";
	if (looks_like_text(d, len)) {
		if (starts(d, len, "heap profile:", 13) || starts(d, len, "--- ", 4) ||
		    starts(d, len, "goroutine profile:", 18))
			return "a legacy text profile, which go tool pprof reads and memprof does not";
		return gzipped ? "gzip-compressed text" : "text; pprof profiles are protobuf";
	}
	return NULL;
}

/* The elements of a profile counted against pprof_limits.max_elements:
 * every repeated message and string (packed numbers are not counted). */
enum element_kind {
	EL_STRING, EL_SAMPLE_TYPE, EL_SAMPLE, EL_MAPPING, EL_LOCATION, EL_FUNCTION,
	EL_LINE, EL_LABEL, N_ELEMENT_KINDS
};

static const char *const element_names[N_ELEMENT_KINDS] = {
	"strings", "sample types", "samples", "mappings", "locations", "functions",
	"lines", "labels",
};

/* A check of a profile in progress: where its error goes, the limit it
 * went over (if any), and the elements seen so far (a profile arriving
 * from gunzip is checked in several calls). */
struct wire_check {
	struct pprof_error *err;
	enum pprof_limit exceeded;
	size_t max_elements;
	size_t total;
	size_t count[N_ELEMENT_KINDS];
};

/* After the protobuf in d[0..len) failed its wire check: when d is
 * something people mistake for a profile, say what it is instead of which
 * byte is wrong. A limit that was hit keeps its message. */
static void say_what_it_is(const uint8_t *d, size_t len, bool gzipped, struct wire_check *wc)
{
	struct pprof_error *err = wc->err;
	if (wc->exceeded != PPROF_LIMIT_NONE)
		return;
	const char *what = looks_like(d, len, gzipped);
	if (what && gzipped && (is_elf(d, len) || starts(d, len, "MPRFREC", 7)))
		seterr(err, "not a pprof profile (looks like a gzip-compressed %s)",
		       what + (what[1] == 'n' ? 3 : 2));	/* less its article */
	else if (what)
		seterr(err, "not a pprof profile (looks like %s)", what);
}

static int wire_progress(const uint8_t *p, size_t len, size_t *cursor, struct wire_check *wc);

/* Inflates a gzip stream (several members are allowed, as gzip allows) into
 * a malloc'd buffer that grows with the data actually produced, up to
 * max_size bytes. The protobuf is checked as it arrives (see wire_progress);
 * *checked_out gets the length of the part already checked. */
static uint8_t *gunzip(const uint8_t *in, size_t in_len, size_t max_size, size_t *out_len,
		       size_t *checked_out, struct wire_check *wc)
{
	struct pprof_error *err = wc->err;
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 16) != Z_OK) {
		seterr(err, "cannot initialise zlib");
		return NULL;
	}
	/* room for one byte more than allowed, to see the data goes past it */
	size_t limit = max_size + 1;
	size_t cap = in_len < 1024 ? 4096 : in_len * 4, len = 0, checked = 0;
	if (cap > limit)
		cap = limit;
	uint8_t *out = malloc(cap);
	if (!out)
		goto out_nomem;
	zs.next_in = (Bytef *)in;
	for (;;) {
		if (len == cap) {
			/* len <= max_size here, so cap < limit */
			cap = cap * 2 > limit ? limit : cap * 2;
			uint8_t *n = realloc(out, cap);
			if (!n)
				goto out_nomem;
			out = n;
		}
		/* zlib counts in uInt; feed at most 1 GiB per call */
		size_t in_left = in_len - (size_t)(zs.next_in - in);
		zs.avail_in = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
		size_t room = cap - len;
		zs.next_out = out + len;
		zs.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
		uInt before = zs.avail_out;
		int rc = inflate(&zs, Z_NO_FLUSH);
		len += before - zs.avail_out;
		if (len > max_size) {
			seterr(err, "profile decompresses to more than %zu bytes", max_size);
			wc->exceeded = PPROF_LIMIT_SIZE;
			goto out_fail;
		}
		/* check the protobuf as it arrives, so garbage or a mass of
		 * tiny elements that inflates to gigabytes (a gzip bomb) fails
		 * after its first chunks */
		if (wire_progress(out, len, &checked, wc) < 0) {
			say_what_it_is(out, len, true, wc);
			goto out_fail;
		}
		if (rc == Z_STREAM_END) {
			in_left = in_len - (size_t)(zs.next_in - in);
			/* another member follows: decode it too (trailing zeros are padding) */
			if (in_left >= 2 && is_gzip(zs.next_in, in_left)) {
				inflateReset(&zs);
				continue;
			}
			break;
		}
		if (rc == Z_BUF_ERROR) {
			/* no progress: out of input (or, with room left, stuck) */
			if ((size_t)(zs.next_in - in) == in_len) {
				seterr(err, "truncated gzip data");
				goto out_fail;
			}
			if (zs.avail_out == 0)
				continue;
		}
		if (rc != Z_OK) {
			seterr(err, "corrupt gzip data: %s", zs.msg ? zs.msg : "inflate failed");
			goto out_fail;
		}
	}
	inflateEnd(&zs);
	*out_len = len;
	*checked_out = checked;
	return out;
out_nomem:
	seterr(err, "out of memory decompressing");
out_fail:
	inflateEnd(&zs);
	free(out);
	return NULL;
}

/* ---- protobuf wire check ---------------------------------------------------
 * protobuf-c only says "failed"; this walk over the wire format finds the
 * first problem and names it (field path, offset), so users see why. */

static int read_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *v)
{
	uint64_t r = 0;
	for (int shift = 0; shift < 70; shift += 7) {
		if (*i >= len)
			return -1;
		uint8_t b = p[(*i)++];
		if (shift == 63 && b > 1)
			return -2;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -2;
}

static const char *wire_name(unsigned wt)
{
	static const char *names[] = { "varint", "64-bit", "length-delimited", "group start",
				       "group end", "32-bit", "invalid (6)", "invalid (7)" };
	return names[wt & 7];
}

static bool field_is_varint(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_BOOL: case PROTOBUF_C_TYPE_ENUM:
		return true;
	default:
		return false;
	}
}

/* Which element kind field num of message d holds (field numbers from
 * proto/profile.proto), or -1. */
static int element_kind(const ProtobufCMessageDescriptor *d, uint64_t num)
{
	if (d == &perftools__profiles__profile__descriptor) {
		switch (num) {
		case 1: return EL_SAMPLE_TYPE;
		case 2: return EL_SAMPLE;
		case 3: return EL_MAPPING;
		case 4: return EL_LOCATION;
		case 5: return EL_FUNCTION;
		case 6: return EL_STRING;
		}
	} else if (d == &perftools__profiles__location__descriptor && num == 4) {
		return EL_LINE;
	} else if (d == &perftools__profiles__sample__descriptor && num == 3) {
		return EL_LABEL;
	}
	return -1;
}

/* Counts one complete element; fails once there are more than allowed,
 * naming the kind there are most of. */
static int count_element(struct wire_check *wc, int kind)
{
	wc->count[kind]++;
	if (++wc->total <= wc->max_elements)
		return 0;
	int most = 0;
	for (int k = 1; k < N_ELEMENT_KINDS; k++)
		if (wc->count[k] > wc->count[most])
			most = k;
	seterr(wc->err, "profile has more than %zu elements, %zu of them %s", wc->max_elements,
	       wc->count[most], element_names[most]);
	wc->exceeded = PPROF_LIMIT_ELEMENTS;
	return -1;
}

/* Checks the message d in p[0..len). With stop set (the top level of a
 * profile still arriving), a field cut off by the end of the data is not an
 * error: *stop gets its offset and the check returns 0. Complete elements
 * are counted in wc. */
static int check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
		      size_t base, int depth, struct wire_check *wc, size_t *stop)
{
	struct pprof_error *err = wc->err;
	size_t i = 0;
#define CUT_OFF() do { if (stop) { *stop = at - base; return 0; } } while (0)
	if (depth > 8) {
		seterr(err, "protobuf nested too deeply at offset %zu", base);
		return -1;
	}
	while (i < len) {
		size_t at = base + i;
		uint64_t tag, v;
		if (read_varint(p, len, &i, &tag) < 0) {
			CUT_OFF();
			seterr(err, "truncated protobuf: field tag cut off at offset %zu", at);
			return -1;
		}
		uint64_t num = tag >> 3;
		unsigned wt = tag & 7;
		if (num == 0 || num > 536870911) {
			seterr(err, "malformed protobuf: invalid field number %llu at offset %zu",
			       (unsigned long long)num, at);
			return -1;
		}
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field(d, (unsigned)num);
		const char *fname = f ? f->name : "unknown field";
		if (f) {
			bool ok;
			if (field_is_varint(f->type))
				ok = wt == 0 || (wt == 2 && f->label == PROTOBUF_C_LABEL_REPEATED);
			else
				ok = wt == 2;	/* strings and messages in profile.proto */
			if (!ok) {
				seterr(err, "malformed protobuf: %s.%s has wire type %s at offset %zu",
				       d->short_name, fname, wire_name(wt), at);
				return -1;
			}
		}
		switch (wt) {
		case 0:
			if (read_varint(p, len, &i, &v) < 0) {
				CUT_OFF();
				seterr(err, "truncated protobuf: %s.%s value cut off at offset %zu",
				       d->short_name, fname, at);
				return -1;
			}
			break;
		case 1:
		case 5: {
			size_t n = wt == 1 ? 8 : 4;
			if (len - i < n) {
				CUT_OFF();
				seterr(err, "truncated protobuf: %s.%s value cut off at offset %zu",
				       d->short_name, fname, at);
				return -1;
			}
			i += n;
			break;
		}
		case 2: {
			if (read_varint(p, len, &i, &v) < 0) {
				CUT_OFF();
				seterr(err, "truncated protobuf: %s.%s length cut off at offset %zu",
				       d->short_name, fname, at);
				return -1;
			}
			if (v > len - i) {
				if (v <= PPROF_MAX_DECODED)
					CUT_OFF();
				seterr(err, "truncated protobuf: %s.%s claims %llu bytes at offset %zu, "
				       "only %zu remain", d->short_name, fname,
				       (unsigned long long)v, at, len - i);
				return -1;
			}
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
				if (check_wire(f->descriptor, p + i, (size_t)v, base + i, depth + 1,
					       wc, NULL) < 0)
					return -1;
			} else if (f && field_is_varint(f->type)) {
				size_t j = 0;
				uint64_t x;
				while (j < v)
					if (read_varint(p + i, (size_t)v, &j, &x) < 0) {
						seterr(err, "malformed protobuf: packed %s.%s has a "
						       "cut-off varint at offset %zu",
						       d->short_name, fname, at);
						return -1;
					}
			}
			i += (size_t)v;
			int kind = element_kind(d, num);
			if (kind >= 0 && count_element(wc, kind) < 0)
				return -1;
			break;
		}
		default:
			seterr(err, "malformed protobuf: %s.%s has unsupported wire type %s at "
			       "offset %zu", d->short_name, fname, wire_name(wt), at);
			return -1;
		}
	}
	if (stop)
		*stop = len;
	return 0;
#undef CUT_OFF
}

/* Checks the part of a profile between *cursor and len that is complete
 * and moves *cursor past it: each field is checked (and its elements
 * counted) once. */
static int wire_progress(const uint8_t *p, size_t len, size_t *cursor, struct wire_check *wc)
{
	size_t done;
	if (check_wire(&perftools__profiles__profile__descriptor, p + *cursor, len - *cursor,
		       *cursor, 0, wc, &done) < 0)
		return -1;
	*cursor += done;
	return 0;
}

/* ---- bounded allocator for protobuf-c ------------------------------------ */

struct budget {
	size_t used, limit;
	bool refused;	/* an allocation went over the limit */
};

static void *budget_alloc(void *data, size_t size)
{
	struct budget *b = data;
	if (size > b->limit - b->used) {
		b->refused = true;
		return NULL;
	}
	size_t *p = malloc(size + 16);
	if (!p)
		return NULL;
	b->used += size;
	p[0] = size;
	return (char *)p + 16;
}

static void budget_free(void *data, void *ptr)
{
	struct budget *b = data;
	if (!ptr)
		return;
	size_t *p = (size_t *)((char *)ptr - 16);
	b->used -= p[0];
	free(p);
}

/* Memory for the decoded message and for the model, per byte of protobuf.
 * The worst case is many tiny messages: a 2-byte empty Sample becomes a
 * 72-byte struct plus a pointer. */
#define PPROF_MEM_PER_BYTE 64
#define PPROF_MEM_SLACK ((size_t)1 << 20)

/* ---- protobuf message -> model ------------------------------------------- */

struct decoder {
	const PbProfile *pb;
	struct profile *p;
	struct pprof_error *err;
	const char **str;		/* string_table, copied into the arena */
	struct hashmap mapping_ids, function_ids, location_ids;	/* id -> index */
};

static int get_str(struct decoder *dc, int64_t idx, const char **out, const char *what)
{
	if (idx < 0 || (uint64_t)idx >= dc->pb->n_string_table) {
		seterr(dc->err, "%s: string index %lld out of range (string table has %zu)",
		       what, (long long)idx, dc->pb->n_string_table);
		return -1;
	}
	*out = dc->str[idx];
	return 0;
}

static int index_ids(struct decoder *dc, struct hashmap *m, uint64_t id, size_t index,
		     const char *what)
{
	bool inserted;
	if (id == 0) {
		seterr(dc->err, "%s[%zu] has id 0 (ids must be non-zero)", what, index);
		return -1;
	}
	uint64_t *slot = hashmap_put(m, id, &inserted);
	if (!slot) {
		seterr(dc->err, "out of memory");
		return -1;
	}
	if (!inserted) {
		seterr(dc->err, "%s[%zu] repeats id %llu", what, index, (unsigned long long)id);
		return -1;
	}
	*slot = index;
	return 0;
}

static int decode_model(struct decoder *dc)
{
	const PbProfile *pb = dc->pb;
	struct profile *p = dc->p;
	char what[96];

	if (pb->n_string_table == 0) {
		seterr(dc->err, "string table is empty (string_table[0] must be \"\")");
		return -1;
	}
	if (pb->string_table[0][0] != '\0') {
		seterr(dc->err, "string_table[0] is not empty");
		return -1;
	}
	dc->str = arena_calloc(&p->arena, pb->n_string_table, sizeof(*dc->str));
	if (!dc->str)
		goto out_nomem;
	for (size_t i = 0; i < pb->n_string_table; i++)
		if (!(dc->str[i] = profile_intern(p, pb->string_table[i])))
			goto out_nomem;

	p->sample_type = arena_calloc(&p->arena, pb->n_sample_type, sizeof(*p->sample_type));
	if (!p->sample_type && pb->n_sample_type)
		goto out_nomem;
	p->n_sample_type = pb->n_sample_type;
	for (size_t i = 0; i < pb->n_sample_type; i++) {
		snprintf(what, sizeof(what), "sample_type[%zu].type", i);
		if (get_str(dc, pb->sample_type[i]->type, &p->sample_type[i].type, what) < 0)
			return -1;
		snprintf(what, sizeof(what), "sample_type[%zu].unit", i);
		if (get_str(dc, pb->sample_type[i]->unit, &p->sample_type[i].unit, what) < 0)
			return -1;
	}
	if (pb->period_type) {
		if (get_str(dc, pb->period_type->type, &p->period_type.type, "period_type.type") < 0 ||
		    get_str(dc, pb->period_type->unit, &p->period_type.unit, "period_type.unit") < 0)
			return -1;
	}
	if (get_str(dc, pb->drop_frames, &p->drop_frames, "drop_frames") < 0 ||
	    get_str(dc, pb->keep_frames, &p->keep_frames, "keep_frames") < 0 ||
	    get_str(dc, pb->default_sample_type, &p->default_sample_type,
		    "default_sample_type") < 0)
		return -1;
	p->time_nanos = pb->time_nanos;
	p->duration_nanos = pb->duration_nanos;
	p->period = pb->period;
	for (size_t i = 0; i < pb->n_comment; i++) {
		const char *c;
		snprintf(what, sizeof(what), "comment[%zu]", i);
		if (get_str(dc, pb->comment[i], &c, what) < 0)
			return -1;
		if (profile_add_comment(p, c) < 0)
			goto out_nomem;
	}

	for (size_t i = 0; i < pb->n_mapping; i++) {
		const PbMapping *pm = pb->mapping[i];
		if (index_ids(dc, &dc->mapping_ids, pm->id, i, "mapping") < 0)
			return -1;
		struct profile_mapping *m = profile_add_mapping(p, pm->id);
		if (!m)
			goto out_nomem;
		m->memory_start = pm->memory_start;
		m->memory_limit = pm->memory_limit;
		m->file_offset = pm->file_offset;
		snprintf(what, sizeof(what), "mapping[%zu].filename", i);
		if (get_str(dc, pm->filename, &m->filename, what) < 0)
			return -1;
		snprintf(what, sizeof(what), "mapping[%zu].build_id", i);
		if (get_str(dc, pm->build_id, &m->build_id, what) < 0)
			return -1;
		m->has_functions = pm->has_functions;
		m->has_filenames = pm->has_filenames;
		m->has_line_numbers = pm->has_line_numbers;
		m->has_inline_frames = pm->has_inline_frames;
	}

	for (size_t i = 0; i < pb->n_function; i++) {
		const PbFunction *pf = pb->function[i];
		if (index_ids(dc, &dc->function_ids, pf->id, i, "function") < 0)
			return -1;
		struct profile_function *f = profile_add_function(p, pf->id);
		if (!f)
			goto out_nomem;
		snprintf(what, sizeof(what), "function[%zu].name", i);
		if (get_str(dc, pf->name, &f->name, what) < 0)
			return -1;
		snprintf(what, sizeof(what), "function[%zu].system_name", i);
		if (get_str(dc, pf->system_name, &f->system_name, what) < 0)
			return -1;
		snprintf(what, sizeof(what), "function[%zu].filename", i);
		if (get_str(dc, pf->filename, &f->filename, what) < 0)
			return -1;
		f->start_line = pf->start_line;
	}

	for (size_t i = 0; i < pb->n_location; i++) {
		const PbLocation *pl = pb->location[i];
		if (index_ids(dc, &dc->location_ids, pl->id, i, "location") < 0)
			return -1;
		struct profile_location *l = profile_add_location(p, pl->id, pl->n_line);
		if (!l)
			goto out_nomem;
		l->address = pl->address;
		l->is_folded = pl->is_folded;
		if (pl->mapping_id) {
			uint64_t *mi = hashmap_get(&dc->mapping_ids, pl->mapping_id);
			if (!mi) {
				seterr(dc->err, "location[%zu] refers to mapping id %llu, which "
				       "does not exist", i, (unsigned long long)pl->mapping_id);
				return -1;
			}
			l->mapping = p->mapping[*mi];
		}
		for (size_t j = 0; j < pl->n_line; j++) {
			const PbLine *ln = pl->line[j];
			l->line[j].line = ln->line;
			l->line[j].column = ln->column;
			if (ln->function_id) {
				uint64_t *fi = hashmap_get(&dc->function_ids, ln->function_id);
				if (!fi) {
					seterr(dc->err, "location[%zu].line[%zu] refers to function "
					       "id %llu, which does not exist", i, j,
					       (unsigned long long)ln->function_id);
					return -1;
				}
				l->line[j].function = p->function[*fi];
			}
		}
	}

	for (size_t i = 0; i < pb->n_sample; i++) {
		const PbSample *ps = pb->sample[i];
		if (ps->n_value != pb->n_sample_type) {
			seterr(dc->err, "sample[%zu] has %zu values for %zu sample types", i,
			       ps->n_value, pb->n_sample_type);
			return -1;
		}
		struct profile_sample *s = profile_add_sample(p, ps->n_location_id, ps->n_label);
		if (!s)
			goto out_nomem;
		if (ps->n_value)
			memcpy(s->value, ps->value, ps->n_value * sizeof(*s->value));
		for (size_t j = 0; j < ps->n_location_id; j++) {
			uint64_t *li = ps->location_id[j] ? hashmap_get(&dc->location_ids,
									ps->location_id[j]) : NULL;
			if (!li) {
				seterr(dc->err, "sample[%zu] refers to location id %llu, which "
				       "does not exist", i, (unsigned long long)ps->location_id[j]);
				return -1;
			}
			s->location[j] = p->location[*li];
		}
		for (size_t j = 0; j < ps->n_label; j++) {
			const PbLabel *pl = ps->label[j];
			struct profile_label *l = &s->label[j];
			snprintf(what, sizeof(what), "sample[%zu].label[%zu]", i, j);
			if (get_str(dc, pl->key, &l->key, what) < 0 ||
			    get_str(dc, pl->str, &l->str, what) < 0 ||
			    get_str(dc, pl->num_unit, &l->num_unit, what) < 0)
				return -1;
			l->num = pl->num;
		}
	}
	return 0;
out_nomem:
	seterr(dc->err, "out of memory (profile too large to load)");
	return -1;
}

/* memprof's heap over time, in a field pprof does not know (the last one,
 * if a rewrite left several). protobuf-c keeps such a field with its
 * length prefix. A malformed one is dropped, not the profile, which pprof
 * reads all the same: p->timeline_error says why. */
static void decode_timeline(const PbProfile *pb, struct profile *p)
{
	for (unsigned i = pb->base.n_unknown_fields; i-- > 0;) {
		const ProtobufCMessageUnknownField *f = &pb->base.unknown_fields[i];
		if (f->tag != TIMELINE_FIELD)
			continue;
		size_t at = 0;
		uint64_t n;
		const char *why = "it is not length-delimited";
		if (f->wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED &&
		    read_varint(f->data, f->len, &at, &n) == 0 && n == f->len - at)
			why = timeline_decode(f->data + at, f->len - at, p);
		if (why) {
			p->timeline = NULL;
			p->timeline_error = why;
		}
		return;
	}
}

static const struct pprof_limits default_limits = PPROF_LIMITS_INIT;

static size_t max_size_of(const struct pprof_limits *limits)
{
	return limits->max_size < PPROF_MAX_DECODED ? limits->max_size : PPROF_MAX_DECODED;
}

struct profile *pprof_decode_limited(const void *data, size_t len,
				     const struct pprof_limits *limits, enum pprof_limit *exceeded,
				     struct pprof_error *err)
{
	const uint8_t *raw = data;
	uint8_t *inflated = NULL;
	PbProfile *pb = NULL;
	struct profile *p = NULL;
	struct decoder dc = { 0 };

	if (!limits)
		limits = &default_limits;
	size_t max_size = max_size_of(limits);
	struct wire_check wc = { .err = err, .max_elements = limits->max_elements };
	err->msg[0] = '\0';
	if (len == 0) {
		seterr(err, "empty file");
		goto out;
	}
	/* no protobuf starts with 0x7f; the others fail their wire check */
	if (is_elf(raw, len)) {
		seterr(err, "not a pprof profile (looks like %s)", elf_kind(raw, len));
		goto out;
	}
	/* the part of the protobuf already checked while inflating */
	size_t checked = 0;
	bool gzipped = is_gzip(raw, len);
	if (gzipped) {
		size_t n;
		if (!(inflated = gunzip(raw, len, max_size, &n, &checked, &wc)))
			goto out;
		if (n == 0) {
			seterr(err, "empty profile (gzip data decompresses to nothing)");
			goto out;
		}
		raw = inflated;
		len = n;
	} else if (len > max_size) {
		seterr(err, "profile is larger than %zu bytes", max_size);
		wc.exceeded = PPROF_LIMIT_SIZE;
		goto out;
	}

	/* what is left ends the data: a field cut off there is an error */
	if (checked < len && check_wire(&perftools__profiles__profile__descriptor, raw + checked,
					len - checked, checked, 0, &wc, NULL) < 0) {
		say_what_it_is(raw, len, gzipped, &wc);
		goto out;
	}
	struct budget b = { 0, len * PPROF_MEM_PER_BYTE + PPROF_MEM_SLACK, false };
	ProtobufCAllocator alloc = { budget_alloc, budget_free, &b };
	pb = perftools__profiles__profile__unpack(&alloc, len, raw);
	if (!pb) {
		/* protobuf-c has freed what it had built: b.used is back to 0 */
		if (b.refused)
			seterr(err, "profile needs more memory than its size allows");
		else
			seterr(err, "malformed protobuf (not a pprof profile)");
		goto out;
	}
	free(inflated);
	inflated = NULL;

	if (!(p = profile_new())) {
		seterr(err, "out of memory");
		goto out;
	}
	p->arena.limit = len * PPROF_MEM_PER_BYTE + PPROF_MEM_SLACK;
	dc.pb = pb;
	dc.p = p;
	dc.err = err;
	if (decode_model(&dc) < 0) {
		profile_free(p);
		p = NULL;
	}
	if (p)
		decode_timeline(pb, p);
	perftools__profiles__profile__free_unpacked(pb, &alloc);
	hashmap_release(&dc.mapping_ids);
	hashmap_release(&dc.function_ids);
	hashmap_release(&dc.location_ids);
out:
	free(inflated);
	if (exceeded)
		*exceeded = wc.exceeded;
	return p;
}

struct profile *pprof_decode(const void *data, size_t len, struct pprof_error *err)
{
	return pprof_decode_limited(data, len, NULL, NULL, err);
}

struct profile *pprof_read_limited(const char *path, const struct pprof_limits *limits,
				   enum pprof_limit *exceeded, struct pprof_error *err)
{
	if (!limits)
		limits = &default_limits;
	size_t max_size = max_size_of(limits);
	if (exceeded)
		*exceeded = PPROF_LIMIT_NONE;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		seterr(err, "%s", strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		seterr(err, "%s", strerror(errno));
		close(fd);
		return NULL;
	}
	if (S_ISDIR(st.st_mode)) {
		seterr(err, "is a directory");
		close(fd);
		return NULL;
	}
	/* room for one byte more than allowed, to see the file goes past it */
	size_t limit = max_size + 1;
	size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 65536, len = 0;
	uint8_t *buf = NULL;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max_size)
		goto out_too_large;
	if (cap > limit)
		cap = limit;
	for (;;) {
		if (len == cap || !buf) {
			if (buf)
				cap = cap * 2 > limit ? limit : cap * 2;
			if (len == limit)
				goto out_too_large;
			uint8_t *n = realloc(buf, cap);
			if (!n) {
				seterr(err, "out of memory reading the file");
				goto out_fail;
			}
			buf = n;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			seterr(err, "read error: %s", strerror(errno));
			goto out_fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	struct profile *p = pprof_decode_limited(buf, len, limits, exceeded, err);
	free(buf);
	return p;
out_too_large:
	seterr(err, "file is larger than %zu bytes", max_size);
	if (exceeded)
		*exceeded = PPROF_LIMIT_SIZE;
out_fail:
	close(fd);
	free(buf);
	return NULL;
}

struct profile *pprof_read(const char *path, struct pprof_error *err)
{
	return pprof_read_limited(path, NULL, NULL, err);
}

/* ---- model -> protobuf ---------------------------------------------------- */

/* The string table being built: strings are interned (one copy each, in
 * the arena) and the interned pointer maps to its index. */
struct strtab {
	struct arena arena;
	struct hashmap strings;	/* interned copies */
	struct hashmap index;	/* interned pointer -> index */
	char **s;
	size_t n, cap;
	bool failed;
};

static int64_t strtab_add(struct strtab *t, const char *s)
{
	const char *key = hashmap_intern(&t->strings, &t->arena, s, strlen(s));
	bool inserted;
	uint64_t *slot = key ? hashmap_put(&t->index, (uintptr_t)key, &inserted) : NULL;
	if (!slot || (inserted && array_grow(&t->s, &t->cap, t->n, sizeof(*t->s)) < 0)) {
		t->failed = true;
		return 0;
	}
	if (inserted) {
		t->s[t->n] = (char *)key;	/* protobuf-c takes char *, never writes */
		*slot = t->n++;
	}
	return (int64_t)*slot;
}

static void strtab_release(struct strtab *t)
{
	free(t->s);
	hashmap_release(&t->strings);
	hashmap_release(&t->index);
	arena_release(&t->arena);
}

int pprof_encode(const struct profile *p, int gzip, uint8_t **out, size_t *out_len)
{
	PbProfile pb = PERFTOOLS__PROFILES__PROFILE__INIT;
	PbValueType period_type = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	struct strtab st = { 0 };
	struct arena a = ARENA_INIT;
	int rc = -ENOMEM;
	uint8_t *buf = NULL;

	strtab_add(&st, "");
#define NEWARRAY(n, T) ((T *)arena_calloc(&a, (n) ? (n) : 1, sizeof(T)))
	pb.n_sample_type = p->n_sample_type;
	pb.sample_type = NEWARRAY(p->n_sample_type, PbValueType *);
	PbValueType *vts = NEWARRAY(p->n_sample_type, PbValueType);
	if (!pb.sample_type || !vts)
		goto out;
	for (size_t i = 0; i < p->n_sample_type; i++) {
		perftools__profiles__value_type__init(&vts[i]);
		vts[i].type = strtab_add(&st, p->sample_type[i].type);
		vts[i].unit = strtab_add(&st, p->sample_type[i].unit);
		pb.sample_type[i] = &vts[i];
	}

	pb.n_sample = p->n_sample;
	pb.sample = NEWARRAY(p->n_sample, PbSample *);
	PbSample *ss = NEWARRAY(p->n_sample, PbSample);
	if (!pb.sample || !ss)
		goto out;
	for (size_t i = 0; i < p->n_sample; i++) {
		const struct profile_sample *s = &p->sample[i];
		PbSample *ps = &ss[i];
		perftools__profiles__sample__init(ps);
		ps->n_location_id = s->n_location;
		ps->location_id = NEWARRAY(s->n_location, uint64_t);
		ps->n_value = p->n_sample_type;
		ps->value = s->value;
		ps->n_label = s->n_label;
		ps->label = NEWARRAY(s->n_label, PbLabel *);
		PbLabel *ls = NEWARRAY(s->n_label, PbLabel);
		if (!ps->location_id || !ps->label || !ls)
			goto out;
		for (size_t j = 0; j < s->n_location; j++)
			ps->location_id[j] = s->location[j]->id;
		for (size_t j = 0; j < s->n_label; j++) {
			perftools__profiles__label__init(&ls[j]);
			ls[j].key = strtab_add(&st, s->label[j].key);
			ls[j].str = strtab_add(&st, s->label[j].str);
			ls[j].num = s->label[j].num;
			ls[j].num_unit = strtab_add(&st, s->label[j].num_unit);
			ps->label[j] = &ls[j];
		}
		pb.sample[i] = ps;
	}

	pb.n_mapping = p->n_mapping;
	pb.mapping = NEWARRAY(p->n_mapping, PbMapping *);
	PbMapping *ms = NEWARRAY(p->n_mapping, PbMapping);
	if (!pb.mapping || !ms)
		goto out;
	for (size_t i = 0; i < p->n_mapping; i++) {
		const struct profile_mapping *m = p->mapping[i];
		PbMapping *pm = &ms[i];
		perftools__profiles__mapping__init(pm);
		pm->id = m->id;
		pm->memory_start = m->memory_start;
		pm->memory_limit = m->memory_limit;
		pm->file_offset = m->file_offset;
		pm->filename = strtab_add(&st, m->filename);
		pm->build_id = strtab_add(&st, m->build_id);
		pm->has_functions = m->has_functions;
		pm->has_filenames = m->has_filenames;
		pm->has_line_numbers = m->has_line_numbers;
		pm->has_inline_frames = m->has_inline_frames;
		pb.mapping[i] = pm;
	}

	pb.n_location = p->n_location;
	pb.location = NEWARRAY(p->n_location, PbLocation *);
	PbLocation *locs = NEWARRAY(p->n_location, PbLocation);
	if (!pb.location || !locs)
		goto out;
	for (size_t i = 0; i < p->n_location; i++) {
		const struct profile_location *l = p->location[i];
		PbLocation *pl = &locs[i];
		perftools__profiles__location__init(pl);
		pl->id = l->id;
		pl->mapping_id = l->mapping ? l->mapping->id : 0;
		pl->address = l->address;
		pl->is_folded = l->is_folded;
		pl->n_line = l->n_line;
		pl->line = NEWARRAY(l->n_line, PbLine *);
		PbLine *lines = NEWARRAY(l->n_line, PbLine);
		if (!pl->line || !lines)
			goto out;
		for (size_t j = 0; j < l->n_line; j++) {
			perftools__profiles__line__init(&lines[j]);
			lines[j].function_id = l->line[j].function ? l->line[j].function->id : 0;
			lines[j].line = l->line[j].line;
			lines[j].column = l->line[j].column;
			pl->line[j] = &lines[j];
		}
		pb.location[i] = pl;
	}

	pb.n_function = p->n_function;
	pb.function = NEWARRAY(p->n_function, PbFunction *);
	PbFunction *fs = NEWARRAY(p->n_function, PbFunction);
	if (!pb.function || !fs)
		goto out;
	for (size_t i = 0; i < p->n_function; i++) {
		const struct profile_function *f = p->function[i];
		PbFunction *pf = &fs[i];
		perftools__profiles__function__init(pf);
		pf->id = f->id;
		pf->name = strtab_add(&st, f->name);
		pf->system_name = strtab_add(&st, f->system_name);
		pf->filename = strtab_add(&st, f->filename);
		pf->start_line = f->start_line;
		pb.function[i] = pf;
	}

	pb.drop_frames = strtab_add(&st, p->drop_frames);
	pb.keep_frames = strtab_add(&st, p->keep_frames);
	pb.time_nanos = p->time_nanos;
	pb.duration_nanos = p->duration_nanos;
	if (*p->period_type.type || *p->period_type.unit) {
		period_type.type = strtab_add(&st, p->period_type.type);
		period_type.unit = strtab_add(&st, p->period_type.unit);
		pb.period_type = &period_type;
	}
	pb.period = p->period;
	pb.n_comment = p->n_comment;
	pb.comment = NEWARRAY(p->n_comment, int64_t);
	if (!pb.comment)
		goto out;
	for (size_t i = 0; i < p->n_comment; i++)
		pb.comment[i] = strtab_add(&st, p->comment[i]);
	pb.default_sample_type = strtab_add(&st, p->default_sample_type);
#undef NEWARRAY
	if (st.failed)
		goto out;
	pb.n_string_table = st.n;
	pb.string_table = st.s;

	uint8_t *tl = NULL;
	size_t tl_len = 0;
	if (p->timeline && timeline_encode(p->timeline, &tl, &tl_len) < 0)
		goto out;
	size_t len = perftools__profiles__profile__get_packed_size(&pb);
	if (!(buf = malloc(len + tl_len + 1))) {
		free(tl);
		goto out;
	}
	perftools__profiles__profile__pack(&pb, buf);
	if (tl_len)	/* a field of its own, after pprof's (see timeline.c) */
		memcpy(buf + len, tl, tl_len);
	len += tl_len;
	free(tl);
	if (!gzip) {
		*out = buf;
		*out_len = len;
		buf = NULL;
		rc = 0;
		goto out;
	}

	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, gzip == PPROF_GZIP_FAST ? Z_BEST_SPEED : Z_DEFAULT_COMPRESSION,
			 Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		goto out;
	size_t cap = deflateBound(&zs, len) + 32;
	uint8_t *gz = malloc(cap);
	if (!gz) {
		deflateEnd(&zs);
		goto out;
	}
	zs.next_in = buf;
	zs.next_out = gz;
	int zr = Z_OK;
	size_t in_left = len;
	while (zr == Z_OK) {
		uInt chunk = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
		zs.avail_in = chunk;
		size_t room = cap - (size_t)(zs.next_out - gz);
		zs.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
		zr = deflate(&zs, chunk == in_left ? Z_FINISH : Z_NO_FLUSH);
		in_left -= chunk - zs.avail_in;
	}
	size_t gz_len = (size_t)(zs.next_out - gz);
	deflateEnd(&zs);
	if (zr != Z_STREAM_END) {
		free(gz);
		rc = -EIO;
		goto out;
	}
	*out = gz;
	*out_len = gz_len;
	rc = 0;
out:
	free(buf);
	strtab_release(&st);
	arena_release(&a);
	return rc;
}

int pprof_write(const struct profile *p, const char *path)
{
	uint8_t *data;
	size_t len;
	int rc = pprof_encode(p, 1, &data, &len);
	if (rc < 0)
		return rc;
	rc = output_write(path, data, len);
	free(data);
	return rc;
}
