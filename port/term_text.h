/*
 * term_text: Erlang terms as text, both ways, for people (the REPL,
 * --replay, --trace).
 *
 * DESIGN: term_text_parse() reads the literal subset of Erlang's syntax
 * that requests need: atoms (bare or quoted), integers, floats, strings,
 * binaries (<<"text">>, <<1,2>>), tuples, proper lists and maps, and
 * encodes it with ei. ei_x_format() reads a similar subset but has no
 * binaries or maps and says neither what nor where a mistake is.
 * term_text_format() prints the way Erlang's ~p does for these types
 * ({ok,4.0}, <<"text">>), unlike ei_s_print_term() (4.000000, #Bin<...>),
 * and falls back to ei_s_print_term() for pids, references, ports and
 * funs. Pure functions: no threads, no Python, no global state.
 */
#ifndef PY_PORT_TERM_TEXT_H
#define PY_PORT_TERM_TEXT_H

#include <ei.h>
#include <stddef.h>

/* Deepest nesting either function follows. */
#define TERM_TEXT_MAX_DEPTH 100

/*
 * Parses one term from text[0, len) (leading blanks skipped) and appends
 * its encoding to x (no version byte). *used gets the offset just after
 * the term. Returns 0, or -1 with err set to a message naming the column
 * ("column 12: expected ',' or '}'"); x may then hold a partial term.
 */
int term_text_parse(const char *text, size_t len, ei_x_buff *x, size_t *used, char *err,
                    size_t errlen);

/*
 * Formats the term at buf[*index] (no version byte there) and moves *index
 * past it. The term must be well formed (built by ei, or checked by
 * envelope_skip_term()). Returns a malloc'd NUL-terminated string the
 * caller frees, or NULL (out of memory, or a term ei cannot decode).
 */
char *term_text_format(const char *buf, int *index);

#endif
