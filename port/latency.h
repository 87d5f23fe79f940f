/*
 * latency: a histogram of durations, for percentiles without keeping
 * samples.
 *
 * DESIGN: durations in microseconds fall in buckets of 1/8 of a power of
 * two (below 8 us, one bucket per microsecond), so a percentile is known
 * to within 12.5 %, over any range, in a fixed 4 KB. Not synchronised:
 * the owner (a pool) holds its lock.
 */
#ifndef PY_PORT_LATENCY_H
#define PY_PORT_LATENCY_H

#define LATENCY_BUCKETS 488

struct latency {
    unsigned long long count[LATENCY_BUCKETS];
    unsigned long long n;
};

/* Counts one duration (negative counts as 0). */
void latency_add(struct latency *l, long long us);

/* The smallest duration that at least q (0 < q <= 1) of the counted ones
 * do not exceed, rounded up to its bucket's upper end; -1 if none yet. */
long long latency_percentile(const struct latency *l, double q);

#endif
