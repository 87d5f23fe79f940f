/*
 * arena: CPython's object arenas and its big blocks, kept for reuse
 * (docs/performance-history.md, "Big payloads, term-heavy payloads").
 *
 * DESIGN: pymalloc takes memory for small objects (floats, ints, tuples,
 * dict entries...) in arenas of 1 MiB (256 KiB before 3.10), and gives an
 * arena back as soon as it is empty, keeping one. A call that converts
 * 100,000 floats makes and frees three of them: each time, fresh pages
 * that fault in, are cleared by the kernel, and go back with munmap(). A
 * fifth of py_port's CPU on such a call went to that. The allocator set
 * here keeps up to ARENA_KEEP freed arenas and hands them out again,
 * pages still mapped; past that it unmaps, as CPython's own does. It is
 * installed with PyObject_SetArenaAllocator() before Python starts; a
 * mutex guards the kept ones, as owngil interpreters each have their own
 * pymalloc and may take or give arenas at the same time.
 *
 * Blocks above pymalloc's 512 bytes come from CPython's raw domain,
 * malloc(); from 32 MB up, each is a fresh mapping. arena_wrap_raw()
 * sends those of bigmem's sizes to bigmem's kept buffers, so that the
 * bytes a big binary becomes reuse the last one's pages.
 */
#ifndef PY_PORT_ARENA_H
#define PY_PORT_ARENA_H

/* The most freed arenas kept mapped, whatever they hold: 16 MiB of
 * resident memory at most with 1 MiB arenas. */
#define ARENA_KEEP 16

/* Makes CPython take its arenas from here; before Py_Initialize. A
 * child forked meanwhile can take arenas too (pthread_atfork). */
void arena_install(void);

/* Wraps CPython's raw allocator, once Python is initialised (wrapping is
 * what CPython allows then, and PYTHONMALLOC set in the environment
 * replaces every allocator while it initialises): a block of BIGMEM_MIN
 * to BIGMEM_KEEP bytes (a big bytes object, a list's array) is a buffer
 * kept for reuse (bigmem.h), anything else is the wrapped allocator's.
 * Before other threads allocate through CPython. */
void arena_wrap_raw(void);

/* How many freed arenas are kept now (for tests). */
int arena_kept(void);

#endif
