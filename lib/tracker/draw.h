/* draw.h - the sampler's random distances: a per-thread xorshift generator
 * and exponential draws with mean = rate (Go's fastexprand). Pure, header
 * only, so the unit tests check the distribution of the very code the
 * tracker runs. */
#ifndef MEMPROF_DRAW_H
#define MEMPROF_DRAW_H

#include <math.h>
#include <stdint.h>

static inline uint64_t draw_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Bytes to the next sample for a thread whose generator is *rng (seeded
 * from seed when 0): exponential with mean rate, at least 1; 0 when rate
 * is 1 or less (every allocation is sampled). */
static inline int64_t draw_distance(uint64_t *rng, uint64_t seed, int64_t rate)
{
	if (rate <= 1)
		return 0;
	if (!*rng)
		*rng = seed | 1;
	/* -log(u) * rate, u uniform in (0, 1) */
	double u = ((double)(draw_next(rng) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
	double d = -log(u) * (double)rate;
	return d >= 1e18 ? (int64_t)1e18 : (int64_t)d + 1;
}

#endif
