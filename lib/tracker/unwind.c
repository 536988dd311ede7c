/* unwind.c - the tracker's cached unwinder (see unwind.h). x86-64 only;
 * elsewhere it always answers "use libunwind". */
#include "unwind.h"

#include <elf.h>
#include <link.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include "modules.h"
#include "tracker.h"

#if defined(__x86_64__)

/* ---- the table of rules ------------------------------------------------------ */

enum rule_kind {
	RULE_RSP,		/* CFA = %rsp + cfa_off: apply it */
	RULE_RBP,		/* CFA = %rbp + cfa_off: apply it */
	RULE_LAST,		/* the return address is undefined: the outermost frame */
	RULE_LIBUNWIND,		/* beyond this unwinder: the whole stack goes to libunwind */
};

#define RBP_SAME INT16_MIN	/* the caller's %rbp is this frame's */

/* One return address's rule, 16 bytes. */
struct rule {
	uintptr_t ip;		/* 0: empty slot */
	int32_t cfa_off;	/* CFA = (kind == RULE_RBP ? %rbp : %rsp) + cfa_off */
	int16_t rbp_off;	/* the caller's %rbp is at CFA + rbp_off, or RBP_SAME */
	int8_t ra_off;		/* the return address is at CFA + ra_off */
	uint8_t kind;		/* enum rule_kind */
};

/* Direct-mapped: a collision replaces the older rule, which is read again
 * from .eh_frame if it comes back. 256 KiB of address space, touched only
 * where rules land. */
#define RULE_BITS 14
static struct rule *rules;
uint32_t unwind_rules_gen = 1;

static inline size_t rule_slot(uintptr_t ip)
{
	return (size_t)((ip * 0x9e3779b97f4a7c15ULL) >> (64 - RULE_BITS));
}

void unwind_flush(void)
{
	/* private anonymous pages read back as zeros: every slot empty */
	if (rules)
		madvise(rules, sizeof(*rules) << RULE_BITS, MADV_DONTNEED);
	if (++unwind_rules_gen == 0)
		unwind_rules_gen = 1;
}

/* ---- reading .eh_frame ---------------------------------------------------------- */

#define DW_EH_PE_omit 0xff
#define DW_EH_PE_absptr 0x00
#define DW_EH_PE_uleb128 0x01
#define DW_EH_PE_udata2 0x02
#define DW_EH_PE_udata4 0x03
#define DW_EH_PE_udata8 0x04
#define DW_EH_PE_sleb128 0x09
#define DW_EH_PE_sdata2 0x0a
#define DW_EH_PE_sdata4 0x0b
#define DW_EH_PE_sdata8 0x0c
#define DW_EH_PE_pcrel 0x10
#define DW_EH_PE_datarel 0x30
#define DW_EH_PE_indirect 0x80

#define REG_RBP 6
#define REG_RSP 7
#define REG_RA 16

/* A cursor over unwind data in a loaded object (mapped, readable: the
 * loader maps PT_GNU_EH_FRAME and .eh_frame with the text). Every read is
 * checked against end; a short read sets bad. */
struct cur {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t get_u(struct cur *c, size_t n)
{
	uint64_t v = 0;
	if (c->bad || (size_t)(c->end - c->p) < n) {
		c->bad = true;
		return 0;
	}
	memcpy(&v, c->p, n);	/* little-endian */
	c->p += n;
	return v;
}

static uint64_t get_uleb(struct cur *c)
{
	uint64_t v = 0;
	for (unsigned shift = 0; !c->bad; shift += 7) {
		if (c->p >= c->end || shift > 63) {
			c->bad = true;
			break;
		}
		uint8_t b = *c->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
	}
	return v;
}

static int64_t get_sleb(struct cur *c)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b = 0;
	do {
		if (c->bad || c->p >= c->end || shift > 63) {
			c->bad = true;
			return 0;
		}
		b = *c->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	if (shift < 64 && (b & 0x40))
		v |= ~(uint64_t)0 << shift;
	return (int64_t)v;
}

/* A pointer in encoding enc; datarel is relative to data_base. Encodings
 * this reader does not know set bad. */
static uintptr_t get_encoded(struct cur *c, uint8_t enc, uintptr_t data_base)
{
	uintptr_t at = (uintptr_t)c->p, v;
	if (enc == DW_EH_PE_omit)
		return 0;
	switch (enc & 0x0f) {
	case DW_EH_PE_absptr: v = (uintptr_t)get_u(c, 8); break;
	case DW_EH_PE_uleb128: v = (uintptr_t)get_uleb(c); break;
	case DW_EH_PE_udata2: v = (uintptr_t)get_u(c, 2); break;
	case DW_EH_PE_udata4: v = (uintptr_t)get_u(c, 4); break;
	case DW_EH_PE_udata8: v = (uintptr_t)get_u(c, 8); break;
	case DW_EH_PE_sleb128: v = (uintptr_t)get_sleb(c); break;
	case DW_EH_PE_sdata2: v = (uintptr_t)(int64_t)(int16_t)get_u(c, 2); break;
	case DW_EH_PE_sdata4: v = (uintptr_t)(int64_t)(int32_t)get_u(c, 4); break;
	case DW_EH_PE_sdata8: v = (uintptr_t)get_u(c, 8); break;
	default: c->bad = true; return 0;
	}
	switch (enc & 0x70) {
	case 0: break;
	case DW_EH_PE_pcrel: v += at; break;
	case DW_EH_PE_datarel: v += data_base; break;
	default: c->bad = true; return 0;	/* textrel, funcrel: not in x86-64 .eh_frame */
	}
	/* indirect: only personality routines use it, whose value is skipped */
	return v;
}

/* ---- finding the FDE --------------------------------------------------------------- */

/* The FDE that covers pc, from the object's sorted table in .eh_frame_hdr
 * (what the linker writes for every x86-64 object); NULL if none. */
static const uint8_t *find_fde(uintptr_t pc)
{
	const uint8_t *hdr = NULL;
	size_t hdr_len = 0;
	if (!modules_eh_frame_hdr(pc, &hdr, &hdr_len) || !hdr || hdr_len < 4 || hdr[0] != 1)
		return NULL;
	uintptr_t base = (uintptr_t)hdr;
	struct cur c = { hdr + 4, hdr + hdr_len, false };
	uint8_t ptr_enc = hdr[1], count_enc = hdr[2], table_enc = hdr[3];
	get_encoded(&c, ptr_enc, base);
	uintptr_t count = get_encoded(&c, count_enc, base);
	/* the standard table: pairs of 4-byte offsets from the header */
	if (c.bad || table_enc != (DW_EH_PE_datarel | DW_EH_PE_sdata4) || !count ||
	    count > (size_t)(c.end - c.p) / 8)
		return NULL;
	const int32_t *t = (const int32_t *)c.p;
	size_t lo = 0, hi = count;
	while (hi - lo > 1) {	/* the last entry whose start is <= pc */
		size_t mid = lo + (hi - lo) / 2;
		if (base + (intptr_t)t[2 * mid] <= pc)
			lo = mid;
		else
			hi = mid;
	}
	if (base + (intptr_t)t[2 * lo] > pc)
		return NULL;
	return (const uint8_t *)(base + (intptr_t)t[2 * lo + 1]);
}

/* ---- running the CFA program ---------------------------------------------------- */

enum reg_how { HOW_SAME, HOW_OFFSET, HOW_UNDEFINED, HOW_OTHER };

struct frame_state {
	int cfa_reg;		/* -1: an expression */
	int64_t cfa_off;
	enum reg_how rbp_how, ra_how;
	int64_t rbp_off, ra_off;
};

struct cie {
	int64_t data_align;
	uint64_t code_align;
	uint8_t fde_enc;
	bool has_z;
	struct cur insns;
};

/* Runs instructions up to pc (loc starts at *loc). init: the state after
 * the CIE's instructions, for DW_CFA_restore. Returns false on anything
 * this unwinder does not follow. */
static bool run_cfa(struct cur c, const struct cie *cie, uintptr_t *loc, uintptr_t pc,
		    struct frame_state *s, const struct frame_state *init)
{
	struct frame_state saved[8];
	int depth = 0;
	while (c.p < c.end && !c.bad) {
		uint8_t op = *c.p++;
		uint64_t reg, delta = 0;
		int64_t off;
		switch (op >> 6) {
		case 1:	/* advance_loc */
			delta = op & 0x3f;
			goto advance;
		case 2:	/* offset */
			reg = op & 0x3f;
			off = (int64_t)get_uleb(&c) * cie->data_align;
			goto set_offset;
		case 3:	/* restore */
			reg = op & 0x3f;
			goto restore;
		}
		switch (op) {
		case 0x00:	/* nop */
			break;
		case 0x02: delta = get_u(&c, 1); goto advance;
		case 0x03: delta = get_u(&c, 2); goto advance;
		case 0x04: delta = get_u(&c, 4); goto advance;
		case 0x05:	/* offset_extended */
			reg = get_uleb(&c);
			off = (int64_t)get_uleb(&c) * cie->data_align;
			goto set_offset;
		case 0x11:	/* offset_extended_sf */
			reg = get_uleb(&c);
			off = get_sleb(&c) * cie->data_align;
			goto set_offset;
		case 0x06:	/* restore_extended */
			reg = get_uleb(&c);
			goto restore;
		case 0x07:	/* undefined */
		case 0x08:	/* same_value */
			reg = get_uleb(&c);
			if (reg == REG_RBP)
				s->rbp_how = op == 0x07 ? HOW_UNDEFINED : HOW_SAME;
			else if (reg == REG_RA)
				s->ra_how = op == 0x07 ? HOW_UNDEFINED : HOW_SAME;
			break;
		case 0x09:	/* register */
			reg = get_uleb(&c);
			get_uleb(&c);
			if (reg == REG_RBP)
				s->rbp_how = HOW_OTHER;
			else if (reg == REG_RA)
				s->ra_how = HOW_OTHER;
			break;
		case 0x0a:	/* remember_state */
			if (depth == 8)
				return false;
			saved[depth++] = *s;
			break;
		case 0x0b:	/* restore_state */
			if (depth == 0)
				return false;
			*s = saved[--depth];
			break;
		case 0x0c:	/* def_cfa */
			s->cfa_reg = (int)get_uleb(&c);
			s->cfa_off = (int64_t)get_uleb(&c);
			break;
		case 0x12:	/* def_cfa_sf */
			s->cfa_reg = (int)get_uleb(&c);
			s->cfa_off = get_sleb(&c) * cie->data_align;
			break;
		case 0x0d:	/* def_cfa_register */
			s->cfa_reg = (int)get_uleb(&c);
			break;
		case 0x0e:	/* def_cfa_offset */
			s->cfa_off = (int64_t)get_uleb(&c);
			break;
		case 0x13:	/* def_cfa_offset_sf */
			s->cfa_off = get_sleb(&c) * cie->data_align;
			break;
		case 0x0f:	/* def_cfa_expression */
			s->cfa_reg = -1;
			off = (int64_t)get_uleb(&c);
			if (off < 0 || off > c.end - c.p)
				return false;
			c.p += off;
			break;
		case 0x10:	/* expression */
		case 0x16:	/* val_expression */
			reg = get_uleb(&c);
			off = (int64_t)get_uleb(&c);
			if (off < 0 || off > c.end - c.p)
				return false;
			c.p += off;
			if (reg == REG_RBP)
				s->rbp_how = HOW_OTHER;
			else if (reg == REG_RA)
				s->ra_how = HOW_OTHER;
			break;
		case 0x14:	/* val_offset */
		case 0x15:	/* val_offset_sf */
			reg = get_uleb(&c);
			if (op == 0x14)
				get_uleb(&c);
			else
				get_sleb(&c);
			if (reg == REG_RBP)
				s->rbp_how = HOW_OTHER;
			else if (reg == REG_RA)
				s->ra_how = HOW_OTHER;
			break;
		case 0x2e:	/* GNU_args_size */
			get_uleb(&c);
			break;
		case 0x2f:	/* GNU_negative_offset_extended */
			reg = get_uleb(&c);
			off = -(int64_t)get_uleb(&c) * cie->data_align;
			goto set_offset;
		default:	/* set_loc, and anything else */
			return false;
		}
		continue;
advance:
		*loc += delta * cie->code_align;
		if (*loc > pc)
			return !c.bad;
		continue;
set_offset:
		if (reg == REG_RBP) {
			s->rbp_how = HOW_OFFSET;
			s->rbp_off = off;
		} else if (reg == REG_RA) {
			s->ra_how = HOW_OFFSET;
			s->ra_off = off;
		}
		continue;
restore:
		if (!init)
			return false;	/* restore in a CIE's own instructions */
		if (reg == REG_RBP) {
			s->rbp_how = init->rbp_how;
			s->rbp_off = init->rbp_off;
		} else if (reg == REG_RA) {
			s->ra_how = init->ra_how;
			s->ra_off = init->ra_off;
		}
		continue;
	}
	return !c.bad;
}

static bool read_cie(const uint8_t *p, struct cie *cie)
{
	struct cur c = { p, p + 4, false };
	uint64_t len = get_u(&c, 4);
	if (len == 0 || len == 0xffffffff)
		return false;
	c.end = p + 4 + len;
	if (get_u(&c, 4) != 0)
		return false;	/* not a CIE */
	uint8_t version = (uint8_t)get_u(&c, 1);
	if (version != 1 && version != 3)
		return false;
	const char *aug = (const char *)c.p;
	size_t aug_len = strnlen(aug, (size_t)(c.end - c.p));
	if (c.bad || aug_len == (size_t)(c.end - c.p))
		return false;
	c.p += aug_len + 1;
	cie->code_align = get_uleb(&c);
	cie->data_align = get_sleb(&c);
	uint64_t ra = version == 1 ? get_u(&c, 1) : get_uleb(&c);
	if (ra != REG_RA)
		return false;
	cie->fde_enc = DW_EH_PE_absptr;
	cie->has_z = aug[0] == 'z';
	if (aug[0] && !cie->has_z)
		return false;	/* "eh" and other old forms */
	if (cie->has_z) {
		uint64_t n = get_uleb(&c);
		if (c.bad || n > (uint64_t)(c.end - c.p))
			return false;
		struct cur a = { c.p, c.p + n, false };
		for (size_t i = 1; i < aug_len; i++) {
			switch (aug[i]) {
			case 'R':
				cie->fde_enc = (uint8_t)get_u(&a, 1);
				break;
			case 'P': {
				uint8_t enc = (uint8_t)get_u(&a, 1);
				get_encoded(&a, enc & ~DW_EH_PE_indirect, 0);
				break;
			}
			case 'L':
				get_u(&a, 1);
				break;
			default:	/* 'S' (a signal frame), 'B', ... */
				return false;
			}
		}
		if (a.bad)
			return false;
		c.p += n;
	}
	cie->insns = c;
	return !c.bad;
}

/* The rule for return address ip (the call is at ip - 1). */
static struct rule make_rule(uintptr_t ip)
{
	struct rule r = { ip, 0, RBP_SAME, 0, RULE_LIBUNWIND };
	uintptr_t pc = ip - 1;
	const uint8_t *fde = find_fde(pc);
	if (!fde)
		return r;
	struct cur c = { fde, fde + 8, false };
	uint64_t len = get_u(&c, 4);
	if (len == 0 || len == 0xffffffff || len < 4)
		return r;
	c.end = fde + 4 + len;
	const uint8_t *id_at = c.p;
	uint32_t id = (uint32_t)get_u(&c, 4);
	struct cie cie;
	if (c.bad || !id || !read_cie(id_at - id, &cie))
		return r;
	uintptr_t start = get_encoded(&c, cie.fde_enc, 0);
	uintptr_t range = get_encoded(&c, cie.fde_enc & 0x0f, 0);
	if (cie.has_z) {
		uint64_t n = get_uleb(&c);
		if (c.bad || n > (uint64_t)(c.end - c.p))
			return r;
		c.p += n;
	}
	if (c.bad || pc < start || pc - start >= range)
		return r;
	struct frame_state s = { REG_RSP, 8, HOW_SAME, HOW_OFFSET, 0, -8 }, init;
	uintptr_t loc = start;
	if (!run_cfa(cie.insns, &cie, &loc, pc, &s, NULL))
		return r;
	init = s;
	loc = start;
	if (!run_cfa(c, &cie, &loc, pc, &s, &init))
		return r;
	if (s.ra_how == HOW_UNDEFINED) {
		r.kind = RULE_LAST;
		return r;
	}
	if ((s.cfa_reg != REG_RSP && s.cfa_reg != REG_RBP) || s.ra_how != HOW_OFFSET ||
	    (s.rbp_how != HOW_SAME && s.rbp_how != HOW_OFFSET) ||
	    s.cfa_off < 8 || s.cfa_off > INT32_MAX || s.ra_off < INT8_MIN || s.ra_off >= 0 ||
	    (s.rbp_how == HOW_OFFSET && (s.rbp_off <= RBP_SAME || s.rbp_off >= 0)))
		return r;
	r.kind = s.cfa_reg == REG_RBP ? RULE_RBP : RULE_RSP;
	r.cfa_off = (int32_t)s.cfa_off;
	r.ra_off = (int8_t)s.ra_off;
	r.rbp_off = s.rbp_how == HOW_OFFSET ? (int16_t)s.rbp_off : RBP_SAME;
	return r;
}

/* ---- the walk ------------------------------------------------------------------ */

/* Fills in its caller's registers as they are at the return address. */
void memprof_unwind_regs(struct unwind_regs *r);
__asm__(".text\n"
	".p2align 4\n"
	".globl memprof_unwind_regs\n"
	".hidden memprof_unwind_regs\n"
	".type memprof_unwind_regs, @function\n"
	"memprof_unwind_regs:\n"
	"\tmovq (%rsp), %rax\n"
	"\tmovq %rax, (%rdi)\n"
	"\tleaq 8(%rsp), %rax\n"
	"\tmovq %rax, 8(%rdi)\n"
	"\tmovq %rbp, 16(%rdi)\n"
	"\tret\n"
	".size memprof_unwind_regs, .-memprof_unwind_regs\n");

/* A return address not in the table: its rule, read and kept. NULL when
 * no object's unwind data covers it (not kept: code may be loaded there). */
static __attribute__((noinline)) const struct rule *rule_miss(struct rule *slot, uintptr_t ip)
{
	struct rule r = make_rule(ip);
	if (r.kind == RULE_LIBUNWIND && !find_fde(ip - 1))
		return NULL;
	*slot = r;
	return slot;
}

/* This runs for every sampled allocation (all of them at --rate 1): a
 * table lookup, two loads from the stack and a few checks a frame. */
static inline __attribute__((always_inline)) int walk(uintptr_t *pc, int cap, uintptr_t stack_hi,
						      const struct unwind_regs *from,
						      struct unwind_memo *memo, bool *hit)
{
	if (unlikely(!rules)) {
		void *t = mmap(NULL, sizeof(*rules) << RULE_BITS, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (t == MAP_FAILED)
			return -1;
		rules = t;
	}
	struct unwind_regs r;
	if (from)
		r = *from;
	else
		memprof_unwind_regs(&r);
	if (memo && !from && unwind_memo_holds(memo, &r)) {
		*hit = true;
		return (int)memo->n;
	}
	/* Everything read is between our own frame and the stack's end, all
	 * mapped: an address a is readable when a - lo <= span. */
	struct rule *const tab = rules;
	const uintptr_t lo = r.sp, span = stack_hi - sizeof(uintptr_t) - lo;
	uintptr_t ip = r.ip, sp = r.sp, bp = r.bp;
	int n = 0;
	uint32_t nr = 0;
	bool bp_first = true, uses_bp = false;	/* bp still the starting one; used */
	if (memo)
		memo->gen = 0;	/* void until this walk ends well */
	if (stack_hi < lo + sizeof(uintptr_t))
		return -1;
	for (;;) {
		pc[n++] = ip;
		struct rule *slot = &tab[rule_slot(ip)];
		const struct rule *ru = slot;
		if (unlikely(slot->ip != ip) && !(ru = rule_miss(slot, ip)))
			return -1;
		if (unlikely(ru->kind > RULE_RBP)) {
			if (ru->kind == RULE_LAST)
				break;
			return -1;
		}
		uintptr_t cfa = (ru->kind == RULE_RBP ? bp : sp) + (uintptr_t)(intptr_t)ru->cfa_off;
		uintptr_t ra_at = cfa + (uintptr_t)(intptr_t)ru->ra_off;
		if (unlikely(ra_at - lo > span || cfa <= sp))
			return -1;
		uses_bp |= bp_first && ru->kind == RULE_RBP;
		ip = *(const uintptr_t *)ra_at;
		if (memo && nr < UNWIND_MEMO_MAX) {
			memo->at[nr] = ra_at;
			memo->val[nr] = ip;
		}
		nr++;
		if (ru->rbp_off != RBP_SAME) {
			uintptr_t bp_at = cfa + (uintptr_t)(intptr_t)ru->rbp_off;
			if (unlikely(bp_at - lo > span))
				return -1;
			bp = *(const uintptr_t *)bp_at;
			bp_first = false;
			if (memo && nr < UNWIND_MEMO_MAX) {
				memo->at[nr] = bp_at;
				memo->val[nr] = bp;
			}
			nr++;
		}
		sp = cfa;
		if (!ip || n == cap)
			break;
	}
	if (memo && nr <= UNWIND_MEMO_MAX && n <= UNWIND_MEMO_MAX) {
		memo->start = r;
		memo->uses_bp = uses_bp;
		memo->n_reads = nr;
		memo->n = (uint32_t)n;
		for (int k = 0; k < n; k++)
			memo->pc[k] = pc[k];
		memo->gen = unwind_rules_gen;
	}
	return n;
}

__attribute__((noinline)) int unwind_fast_memo(uintptr_t *pc, int cap, uintptr_t stack_hi,
					      const struct unwind_regs *from,
					      struct unwind_memo *memo, bool *hit)
{
	return walk(pc, cap, stack_hi, from, memo, hit);
}

#else

uint32_t unwind_rules_gen = 1;

int unwind_fast_memo(uintptr_t *pc, int cap, uintptr_t stack_hi, const struct unwind_regs *from,
		     struct unwind_memo *memo, bool *hit)
{
	(void)pc;
	(void)cap;
	(void)stack_hi;
	(void)from;
	(void)memo;
	(void)hit;
	return -1;
}

void unwind_flush(void)
{
}

#endif
