/*
 * repl_command: a command typed in the REPL, made into a request frame.
 *
 * DESIGN: pure functions from text to the bytes of one protocol request,
 * so the REPL needs no dispatch of its own: its frames go to
 * dispatch_frame() like Erlang's. The REPL adds what Erlang's side adds:
 * the ReplyTo (a number), an empty Kwargs or Locals when none is given,
 * and Code as a binary when typed as a string. No threads, no Python.
 *
 *   {call, Pool, Module, Function, Args}          {call, ..., Args, Kwargs}
 *   {eval, Pool, Code}                            {eval, Pool, Code, Locals}
 *   {exec, Pool, Code}
 *   {start_pool, Pool, Size}                      {stop_pool, Pool}
 *   help.   q.
 *
 * Pool may also be {context, CtxId}, as in protocol.h.
 */
#ifndef PY_PORT_REPL_COMMAND_H
#define PY_PORT_REPL_COMMAND_H

#include <stddef.h>

enum repl_command_kind {
    REPL_COMMAND_REQUEST, /* *frame holds a request */
    REPL_COMMAND_HELP,
    REPL_COMMAND_QUIT,
    REPL_COMMAND_ERROR, /* err says what is wrong with the text */
};

/* What `help.` prints. */
extern const char repl_command_help[];

/*
 * The length of the first complete command in text[0, len): up to and
 * including the '.' that ends it (a '.' outside strings and quoted atoms,
 * followed by a blank or the end of text). 0 when no command is complete.
 */
size_t repl_command_end(const char *text, size_t len);

/*
 * Makes the command text[0, len) (its final '.' included or not) into a
 * request with ReplyTo reply_to. For REPL_COMMAND_REQUEST, *frame is a
 * malloc'd frame as frame_read() returns one (version byte first, no
 * length prefix, FRAME_PADDING zero bytes after *frame_len), which the
 * caller owns. For REPL_COMMAND_ERROR, err holds an explanation.
 */
enum repl_command_kind repl_command_request(const char *text, size_t len, long reply_to,
                                            char **frame, size_t *frame_len, char *err,
                                            size_t errlen);

#endif
