/*
 * repl_command: typed commands to request frames (see repl_command.h).
 *
 * DESIGN: the text is parsed into a term by term_text_parse(), then the
 * term's elements are copied, byte for byte, into the request, with the
 * ReplyTo and the defaults put in their places. Only the command's shape
 * (its name and arity) and Code are checked here; everything else is left
 * to the port, whose bad_request replies explain it as they would to
 * Erlang.
 */
#include "repl_command.h"

#include "frame.h"
#include "term_text.h"

#include <ctype.h>
#include <ei.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char repl_command_help[] =
    "Commands end with a period; each reply is printed as an Erlang term.\n"
    "  {call, Pool, Module, Function, Args}.          {call, default, math, sqrt, [16]}.\n"
    "  {call, Pool, Module, Function, Args, Kwargs}.  {call, default, builtins, int,"
    " [\"ff\"], #{base => 16}}.\n"
    "  {eval, Pool, Code}.                            {eval, default, \"1 + 1\"}.\n"
    "  {eval, Pool, Code, Locals}.                    {eval, default, \"x * 2\", #{x => 21}}.\n"
    "  {exec, Pool, Code}.                            {exec, default, \"import sys\"}.\n"
    "  {start_pool, Pool, Size[, Mode]}.              {start_pool, io, 4, owngil}.\n"
    "  {stop_pool, Pool}.                             {stop_pool, io}.\n"
    "  help.  q.\n"
    "Pool is an atom or {context, CtxId}; pool default has one context. Code is a\n"
    "string or a binary. Terms: atoms, 'quoted atoms', integers, floats, \"strings\",\n"
    "<<\"binaries\">>, <<1,2>>, {tuples}, [lists], #{maps => 1}.\n";

size_t repl_command_end(const char *text, size_t len)
{
    char quote = 0;
    for (size_t k = 0; k < len; k++) {
        char c = text[k];
        if (quote) {
            if (c == '\\')
                k++;
            else if (c == quote)
                quote = 0;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '%') {
            while (k < len && text[k] != '\n')
                k++;
        } else if (c == '.' && (k + 1 == len || isspace((unsigned char)text[k + 1]))) {
            return k + 1;
        }
    }
    return 0;
}

struct shape {
    const char *name;
    int min, max; /* arity typed, name included */
};

static const struct shape shapes[] = {
    {"call", 5, 6},       {"eval", 3, 4},      {"exec", 3, 3},
    {"start_pool", 3, 4}, {"stop_pool", 2, 2}, {NULL, 0, 0},
};

static enum repl_command_kind error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return REPL_COMMAND_ERROR;
}

/* Copies the term at in[*i] to out. */
static int copy_term(ei_x_buff *out, const char *in, int *i)
{
    int start = *i;
    return ei_skip_term(in, i) != 0 || ei_x_append_buf(out, in + start, *i - start) != 0;
}

/* Code: a string (or "", which is []) becomes a binary; a binary stays. */
static int copy_code(ei_x_buff *out, const char *in, int *i)
{
    int type, size;
    if (ei_get_type(in, i, &type, &size) != 0)
        return -1;
    if (type == ERL_BINARY_EXT)
        return copy_term(out, in, i);
    if (type == ERL_NIL_EXT)
        return ei_skip_term(in, i) || ei_x_encode_binary(out, "", 0);
    if (type != ERL_STRING_EXT)
        return -1;
    char *s = malloc((size_t)size + 1);
    int rc = !s || ei_decode_string(in, i, s) || ei_x_encode_binary(out, s, size);
    free(s);
    return rc ? -1 : 0;
}

/* The request for the typed tuple in[*i...] of `arity` named `op`. */
static int build(ei_x_buff *out, const char *in, int *i, const char *op, int arity, long reply_to)
{
    int code_at = strcmp(op, "eval") == 0 || strcmp(op, "exec") == 0 ? 2 : -1;
    int full = strcmp(op, "call") == 0 ? 7 : strcmp(op, "eval") == 0 ? 5 : arity + 1;
    if (ei_x_encode_tuple_header(out, full) || ei_x_encode_atom(out, op) ||
        ei_x_encode_long(out, reply_to))
        return -1;
    for (int k = 1; k < arity; k++)
        if ((k == code_at ? copy_code(out, in, i) : copy_term(out, in, i)) != 0)
            return k == code_at ? -2 : -1;
    if (arity + 1 < full) /* the Kwargs or Locals left out */
        return ei_x_encode_map_header(out, 0);
    return 0;
}

static enum repl_command_kind from_term(const ei_x_buff *in, long reply_to, ei_x_buff *out,
                                        char *err, size_t errlen)
{
    int i = 0, arity;
    char op[MAXATOMLEN_UTF8];
    if (ei_decode_atom(in->buff, &i, op) == 0) {
        if (strcmp(op, "help") == 0 || strcmp(op, "h") == 0)
            return REPL_COMMAND_HELP;
        if (strcmp(op, "q") == 0 || strcmp(op, "quit") == 0)
            return REPL_COMMAND_QUIT;
        return error(err, errlen, "unknown command '%s' (help. lists the commands)", op);
    }
    if (ei_decode_tuple_header(in->buff, &i, &arity) != 0 || arity < 1 ||
        ei_decode_atom(in->buff, &i, op) != 0)
        return error(err, errlen,
                     "a command is a tuple such as {call, default, math, sqrt, "
                     "[16]} (help. lists them)");
    const struct shape *s = shapes;
    while (s->name && strcmp(s->name, op) != 0)
        s++;
    if (!s->name)
        return error(err, errlen, "unknown command '%s' (help. lists the commands)", op);
    if (arity < s->min || arity > s->max)
        return error(err, errlen, "%s takes %d to %d elements, not %d (help. shows them)", op,
                     s->min, s->max, arity);
    int rc = build(out, in->buff, &i, op, arity, reply_to);
    if (rc == -2)
        return error(err, errlen, "Code must be a string or a binary: \"1 + 1\"");
    return rc == 0 ? REPL_COMMAND_REQUEST : error(err, errlen, "out of memory");
}

enum repl_command_kind repl_command_request(const char *text, size_t len, long reply_to,
                                            char **frame, size_t *frame_len, char *err,
                                            size_t errlen)
{
    ei_x_buff in, out;
    size_t used = 0;
    enum repl_command_kind kind;
    *frame = NULL;
    while (len > 0 && isspace((unsigned char)*text))
        text++, len--;
    if (ei_x_new(&in) != 0)
        return error(err, errlen, "out of memory");
    if (ei_x_new_with_version(&out) != 0) {
        ei_x_free(&in);
        return error(err, errlen, "out of memory");
    }
    if (term_text_parse(text, len, &in, &used, err, errlen) != 0) {
        kind = REPL_COMMAND_ERROR;
    } else {
        while (used < len && isspace((unsigned char)text[used]))
            used++;
        if (used < len && text[used] == '.')
            used++;
        while (used < len && isspace((unsigned char)text[used]))
            used++;
        kind = used < len
                   ? error(err, errlen, "column %zu: expected '.' after the command", used + 1)
                   : from_term(&in, reply_to, &out, err, errlen);
    }
    if (kind == REPL_COMMAND_REQUEST) {
        *frame = calloc(1, (size_t)out.index + FRAME_PADDING);
        if (!*frame)
            kind = error(err, errlen, "out of memory");
        else
            memcpy(*frame, out.buff, (size_t)out.index), *frame_len = (size_t)out.index;
    }
    ei_x_free(&in);
    ei_x_free(&out);
    return kind;
}
