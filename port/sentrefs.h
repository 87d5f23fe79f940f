/*
 * sentrefs: the references of replies already written, kept for a while
 * in case their caller has given up on them.
 *
 * DESIGN: a reply that holds new references ({ok, V, {Nonce, [Id]}})
 * makes its caller the owner of the objects. A caller that timed out has
 * dropped its reply address, so a reply written just before its cancel
 * arrives is dropped by the Erlang runtime, and nobody would release the
 * objects. So a context notes the ids of each such reply here, keyed by
 * its ReplyTo, before it claims the answer; a cancel whose key, or a
 * cancel_caller whose pid, matches a noted reply moves its ids to a list
 * of ids to release, which the next job to run Python releases with the
 * GIL (objref_release_late()). The last SENTREFS_KEPT replies are kept;
 * an older one is forgotten, its caller having had time to receive it.
 *
 * Ids are kept as runs of consecutive ids (a reply's ids usually are one
 * run, whatever their number), so a note costs a few dozen bytes; a reply
 * whose ids make more than SENTREFS_MAX_RUNS runs is not noted.
 *
 * No Python: one mutex around a ring of entries and the list to release;
 * any thread may call any function, never holding a pool lock.
 */
#ifndef PY_PORT_SENTREFS_H
#define PY_PORT_SENTREFS_H

#include <stddef.h>

/* Replies with references remembered at a time. */
#define SENTREFS_KEPT 1024

/* Runs of consecutive ids a noted reply may have. */
#define SENTREFS_MAX_RUNS 64

/* The ids first, first + 1, ..., first + n - 1. */
struct sentrefs_run {
    long long first, n;
};

/* Whether reply_to (a ReplyTo's bytes, no version byte) is the one a
 * cancel request `arg` names. */
typedef int (*sentrefs_match_fn)(const char *reply_to, int len, const void *arg);

/*
 * Notes the reply to reply_to[0, len) holding ids[0, n) (copied, as
 * runs). Returns a token for sentrefs_forget(), or 0 when nothing was
 * noted (more than SENTREFS_MAX_RUNS runs, or out of memory): a cancel
 * after the reply cannot release those ids then.
 */
unsigned long long sentrefs_note(const char *reply_to, int len, const long long *ids, int n);

/* Forgets the note of token (its reply was not sent: its ids are
 * dropped by whoever noted them). No effect if it is gone already. */
void sentrefs_forget(unsigned long long token);

/* Moves the ids of every noted reply that match() accepts to the list to
 * release and forgets those replies. Returns how many replies matched. */
int sentrefs_cancel(sentrefs_match_fn match, const void *arg);

/* Takes the list to release: *runs (malloc'd, the caller frees it; NULL
 * when empty) and how many runs it holds. */
int sentrefs_take(struct sentrefs_run **runs);

/* Forgets everything (tests). */
void sentrefs_reset(void);

#endif
