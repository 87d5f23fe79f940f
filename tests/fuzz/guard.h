/*
 * guard: input buffers fenced by inaccessible memory, for the fuzz targets.
 *
 * DESIGN: the decoders call the ei library of the installed Erlang/OTP,
 * which is not built with AddressSanitizer: ASan cannot see a read that ei
 * makes past a buffer. So each input is copied to the end of a window of
 * read-write pages inside one 4 GiB+ reservation of PROT_NONE memory: any
 * read at buf + i for an int index i (ei indexes with int) beyond the
 * buffer, or before its first page, faults, whoever makes it, and
 * libFuzzer reports the fault as a crash. The bytes before the buffer on
 * its first page are ASan-poisoned, so instrumented code that reads them
 * is reported too. One buffer at a time; no threads.
 */
#ifndef PY_PORT_FUZZ_GUARD_H
#define PY_PORT_FUZZ_GUARD_H

#include <stddef.h>
#include <stdint.h>

/* Largest len + padding guard_copy() accepts. */
#define GUARD_MAX_BYTES (16u << 20)

/*
 * Copies data[0, len) to a buffer followed by `padding` zero bytes, after
 * which the fence begins. Returns the buffer, valid until guard_release();
 * NULL if len + padding exceeds GUARD_MAX_BYTES. Aborts if the memory
 * cannot be had.
 */
char *guard_copy(const uint8_t *data, size_t len, size_t padding);

/* Fences the buffer again. */
void guard_release(void);

#endif
