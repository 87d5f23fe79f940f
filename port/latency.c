/*
 * latency: the bucket arithmetic of latency.h.
 *
 * DESIGN: bucket of us >= 8 is 8 + 8 * (msb - 3) + the three bits after
 * the most significant one (msb = floor(log2 us)).
 */
#include "latency.h"

static int bucket(unsigned long long us)
{
    if (us < 8)
        return (int)us;
    int msb = 63 - __builtin_clzll(us);
    int sub = (int)((us >> (msb - 3)) & 7);
    return 8 + 8 * (msb - 3) + sub;
}

/* The largest duration that falls in bucket b. */
static long long upper(int b)
{
    if (b < 8)
        return b;
    int msb = (b - 8) / 8 + 3, sub = (b - 8) % 8;
    return (long long)(((unsigned long long)(9 + sub) << (msb - 3)) - 1);
}

void latency_add(struct latency *l, long long us)
{
    l->count[bucket(us < 0 ? 0 : (unsigned long long)us)]++;
    l->n++;
}

long long latency_percentile(const struct latency *l, double q)
{
    if (l->n == 0)
        return -1;
    unsigned long long want = (unsigned long long)(q * (double)l->n + 0.999999);
    if (want == 0)
        want = 1;
    unsigned long long seen = 0;
    for (int b = 0; b < LATENCY_BUCKETS; b++) {
        seen += l->count[b];
        if (seen >= want)
            return upper(b);
    }
    return upper(LATENCY_BUCKETS - 1);
}
