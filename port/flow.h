/*
 * flow: the bytes Python has in flight towards Erlang, bounded.
 *
 * DESIGN: erlang.send and erlang.call (callback.c) take the bytes of
 * their event from a window before they write it, and wait, without the
 * GIL, while the window is full. An erlang.call gives its bytes back when
 * its answer comes (or its wait ends); an erlang.send when Erlang says the
 * message has left its target's mailbox ({send_credit, _, Bytes}, read by
 * the reader thread). A single event larger than the window passes when
 * nothing else is in flight. No Python: links into its unit test alone.
 * Lock: `mu`, held only to read and change the count.
 */
#ifndef PY_PORT_FLOW_H
#define PY_PORT_FLOW_H

#include <stdatomic.h>
#include <stddef.h>

/* Bytes an event costs beyond its payload (the owner's bookkeeping, the
 * message's envelope); py_flow.erl adds the same (?MESSAGE_COST). */
#define FLOW_MESSAGE_COST 256

/* How often a waiting thread looks at its cancel flag, in ms. */
#define FLOW_POLL_MS 20

struct flow;

/* A window of `window` bytes (> 0). NULL if out of memory. */
struct flow *flow_new(size_t window);

/*
 * Takes `bytes` from the window, waiting while what is in flight plus
 * `bytes` exceeds it (unless nothing is in flight), for at most
 * timeout_ms. A non-zero *cancelled (read every FLOW_POLL_MS; may be NULL)
 * ends the wait. Returns 0 (the caller must flow_release() the bytes
 * later), -ETIMEDOUT or -ECANCELED (nothing taken).
 */
int flow_acquire(struct flow *f, size_t bytes, long timeout_ms, const atomic_int *cancelled);

/* Gives bytes back (clamped at what is in flight) and wakes the waiters.
 * Any thread. */
void flow_release(struct flow *f, size_t bytes);

/* What is in flight now. */
size_t flow_in_flight(struct flow *f);

/* Frees f. NULL-safe; no thread may wait in it. */
void flow_free(struct flow *f);

#endif
