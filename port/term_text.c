/*
 * term_text: Erlang text to ei terms and back (see term_text.h).
 *
 * DESIGN: a recursive-descent parser over the text. A tuple, list or map
 * needs its element count before its elements in the external format, so
 * each one's elements are encoded into a buffer of their own, then the
 * header and the buffer go to the output (typed text is small; the copy
 * per level does not matter). The printer writes to an open_memstream().
 */
#include "term_text.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
    int depth;
};

static int fail(struct parser *p, const char *fmt, ...)
{
    int n = snprintf(p->err, p->errlen, "column %zu: ", p->pos + 1);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < p->errlen)
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int peek(const struct parser *p)
{
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

/* Skips blanks and % comments. */
static void blank(struct parser *p)
{
    while (p->pos < p->len) {
        if (isspace((unsigned char)p->s[p->pos]))
            p->pos++;
        else if (p->s[p->pos] == '%')
            while (p->pos < p->len && p->s[p->pos] != '\n')
                p->pos++;
        else
            break;
    }
}

static int is_name_char(int c)
{
    return c >= 0 && (isalnum(c) || c == '_' || c == '@');
}

static int value(struct parser *p, ei_x_buff *x);

/* The text between quotes q, escapes resolved, into out[0, *n). */
static int quoted(struct parser *p, char q, char *out, size_t cap, size_t *n)
{
    static const char from[] = "ntrsed0\\\"'", to[] = "\n\t\r \x1b\x7f\0\\\"'";
    p->pos++;
    *n = 0;
    for (;;) {
        int c = peek(p);
        if (c < 0)
            return fail(p, "missing closing %c", q);
        p->pos++;
        if (c == q)
            return 0;
        if (c == '\\') {
            const char *e = p->pos < p->len ? strchr(from, p->s[p->pos]) : NULL;
            if (!e || !*e)
                return fail(p, "unknown escape after '\\'");
            c = (unsigned char)to[e - from];
            p->pos++;
        }
        if (*n == cap)
            return fail(p, "text longer than %zu bytes", cap);
        out[(*n)++] = (char)c;
    }
}

static int atom(struct parser *p, ei_x_buff *x)
{
    char name[MAXATOMLEN_UTF8];
    size_t n = 0;
    if (peek(p) == '\'') {
        if (quoted(p, '\'', name, MAXATOMLEN - 1, &n) != 0)
            return -1;
    } else {
        while (is_name_char(peek(p)) && n < MAXATOMLEN - 1)
            name[n++] = p->s[p->pos++];
        if (is_name_char(peek(p)))
            return fail(p, "atom longer than %d characters", MAXATOMLEN - 1);
    }
    return ei_x_encode_atom_len_as(x, name, (int)n, ERLANG_UTF8, ERLANG_UTF8) ? fail(p, "bad atom")
                                                                              : 0;
}

static int number(struct parser *p, ei_x_buff *x)
{
    const char *start = p->s + p->pos;
    size_t k = p->pos;
    int is_float = 0;
    if (k < p->len && (p->s[k] == '-' || p->s[k] == '+'))
        k++;
    if (k == p->len || !isdigit((unsigned char)p->s[k]))
        return fail(p, "expected a digit");
    while (k < p->len && isdigit((unsigned char)p->s[k]))
        k++;
    if (k + 1 < p->len && p->s[k] == '.' && isdigit((unsigned char)p->s[k + 1])) {
        is_float = 1;
        for (k++; k < p->len && isdigit((unsigned char)p->s[k]); k++)
            ;
        if (k < p->len && (p->s[k] == 'e' || p->s[k] == 'E')) {
            k++;
            if (k < p->len && (p->s[k] == '-' || p->s[k] == '+'))
                k++;
            if (k == p->len || !isdigit((unsigned char)p->s[k]))
                return fail(p, "expected the exponent's digits");
            while (k < p->len && isdigit((unsigned char)p->s[k]))
                k++;
        }
    }
    char text[64];
    if (k - p->pos >= sizeof(text))
        return fail(p, "number too long");
    memcpy(text, start, k - p->pos);
    text[k - p->pos] = '\0';
    errno = 0;
    int rc;
    if (is_float)
        rc = ei_x_encode_double(x, strtod(text, NULL));
    else
        rc = ei_x_encode_longlong(x, strtoll(text, NULL, 10));
    if (errno == ERANGE)
        return fail(p, "number out of range");
    p->pos = k;
    return rc ? fail(p, "out of memory") : 0;
}

static int string(struct parser *p, ei_x_buff *x)
{
    size_t cap = p->len, n;
    char *buf = malloc(cap + 1);
    if (!buf)
        return fail(p, "out of memory");
    int rc = quoted(p, '"', buf, cap, &n);
    if (rc == 0 && ei_x_encode_string_len(x, buf, (int)n) != 0)
        rc = fail(p, "out of memory");
    free(buf);
    return rc;
}

static int at_close(const struct parser *p)
{
    return p->pos + 1 < p->len && p->s[p->pos] == '>' && p->s[p->pos + 1] == '>';
}

/* One segment of a binary: a string or a byte, appended at buf + *n. */
static int segment(struct parser *p, char *buf, size_t cap, size_t *n)
{
    int c = peek(p);
    size_t got;
    if (c == '"') {
        if (quoted(p, '"', buf + *n, cap - *n, &got) != 0)
            return -1;
        *n += got;
        return 0;
    }
    if (c < 0 || !isdigit(c))
        return fail(p, "a binary holds strings and bytes: <<\"text\">>, <<1,2>>");
    long v = 0;
    while (p->pos < p->len && isdigit((unsigned char)p->s[p->pos]) && v <= 255)
        v = v * 10 + (p->s[p->pos++] - '0');
    if (v > 255)
        return fail(p, "a byte is 0..255");
    buf[(*n)++] = (char)v;
    return 0;
}

/* <<>>, <<"text">>, <<1,2,3>>, <<"a",0>>: the "<<" is consumed. */
static int binary(struct parser *p, ei_x_buff *x)
{
    size_t cap = p->len, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return fail(p, "out of memory");
    int rc = 0;
    blank(p);
    while (rc == 0 && !at_close(p)) {
        rc = segment(p, buf, cap, &n);
        blank(p);
        if (rc == 0 && !at_close(p)) {
            if (peek(p) == ',') {
                p->pos++;
                blank(p);
            } else {
                rc = fail(p, "expected ',' or '>>' in a binary");
            }
        }
    }
    if (rc == 0) {
        p->pos += 2;
        if (ei_x_encode_binary(x, buf, (long)n) != 0)
            rc = fail(p, "out of memory");
    }
    free(buf);
    return rc;
}

/* Elements up to `close`, into a buffer of their own, then the header.
 * kind: '{' tuple, '[' list, '#' map (pairs K => V). */
static int sequence(struct parser *p, ei_x_buff *x, int kind, char close)
{
    ei_x_buff items;
    if (ei_x_new(&items) != 0)
        return fail(p, "out of memory");
    long n = 0;
    int rc = 0;
    blank(p);
    while (rc == 0 && peek(p) != close) {
        if (n > 0 && peek(p) != ',') {
            rc = kind == '[' && peek(p) == '|' ? fail(p, "improper lists are not supported")
                                               : fail(p, "expected ',' or '%c'", close);
            break;
        }
        if (n > 0)
            p->pos++;
        rc = value(p, &items);
        blank(p);
        if (rc == 0 && kind == '#') {
            if (peek(p) != '=' || p->pos + 1 >= p->len || p->s[p->pos + 1] != '>')
                rc = fail(p, "expected '=>' in a map");
            else {
                p->pos += 2;
                rc = value(p, &items);
                blank(p);
            }
        }
        n++;
    }
    if (rc == 0) {
        p->pos++;
        if (kind == '{')
            rc = ei_x_encode_tuple_header(x, n);
        else if (kind == '#')
            rc = ei_x_encode_map_header(x, n);
        else if (n > 0)
            rc = ei_x_encode_list_header(x, n);
        rc = rc || ei_x_append_buf(x, items.buff, items.index);
        if (kind == '[')
            rc = rc || ei_x_encode_empty_list(x);
        if (rc)
            rc = fail(p, "out of memory");
    }
    ei_x_free(&items);
    return rc;
}

static int value(struct parser *p, ei_x_buff *x)
{
    blank(p);
    int c = peek(p), rc;
    if (++p->depth > TERM_TEXT_MAX_DEPTH)
        return fail(p, "nested deeper than %d", TERM_TEXT_MAX_DEPTH);
    if (c < 0)
        rc = fail(p, "expected a term, found the end");
    else if (islower(c) || c == '\'')
        rc = atom(p, x);
    else if (isdigit(c) || c == '-' || c == '+')
        rc = number(p, x);
    else if (c == '"')
        rc = string(p, x);
    else if (c == '{' || c == '[')
        rc = (p->pos++, sequence(p, x, c, c == '{' ? '}' : ']'));
    else if (c == '#' && p->pos + 1 < p->len && p->s[p->pos + 1] == '{')
        rc = (p->pos += 2, sequence(p, x, '#', '}'));
    else if (c == '<' && p->pos + 1 < p->len && p->s[p->pos + 1] == '<')
        rc = (p->pos += 2, binary(p, x));
    else if (isupper(c) || c == '_')
        rc = fail(p, "variables are not supported: type a value");
    else
        rc = fail(p, "unexpected '%c'", c);
    p->depth--;
    return rc;
}

int term_text_parse(const char *text, size_t len, ei_x_buff *x, size_t *used, char *err,
                    size_t errlen)
{
    struct parser p = {text, len, 0, err, errlen, 0};
    if (value(&p, x) != 0)
        return -1;
    *used = p.pos;
    return 0;
}

/* Whether name needs no quotes: [a-z][A-Za-z0-9_@]*. */
static int bare_atom(const char *name)
{
    if (!islower((unsigned char)name[0]))
        return 0;
    for (const char *c = name; *c; c++)
        if (!is_name_char((unsigned char)*c))
            return 0;
    return 1;
}

/* s[0, n) between quotes q, escaped; 0 when a byte is not printable. */
static int print_quoted(FILE *f, const char *s, size_t n, char q)
{
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (!(c >= 0x20 && c < 0x7f) && c != '\n' && c != '\t' && c != '\r')
            return 0;
    }
    fputc(q, f);
    for (size_t k = 0; k < n; k++) {
        char c = s[k];
        if (c == q || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n' || c == '\t' || c == '\r')
            fprintf(f, "\\%c", c == '\n' ? 'n' : c == '\t' ? 't' : 'r');
        else
            fputc(c, f);
    }
    fputc(q, f);
    return 1;
}

/* The shortest text that reads back as d, in Erlang's form: 4.0, 1.0e-10. */
static void print_float(FILE *f, double d)
{
    char t[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof(t), "%.*g", prec, d);
        if (strtod(t, NULL) == d)
            break;
    }
    char *e = strchr(t, 'e');
    char mant[40], expo[16] = "";
    snprintf(mant, sizeof(mant), "%.*s", e ? (int)(e - t) : (int)strlen(t), t);
    if (e) {
        int x = atoi(e + 1);
        snprintf(expo, sizeof(expo), "e%d", x);
    }
    fprintf(f, "%s%s%s", mant, strchr(mant, '.') ? "" : ".0", expo);
}

static int print_term(FILE *f, const char *buf, int *index, int depth);

/* Elements of a tuple or list, or pairs of a map, separated by commas. */
static int print_items(FILE *f, const char *buf, int *index, int n, int pairs, int depth)
{
    for (int k = 0; k < n; k++) {
        if (k > 0)
            fputc(',', f);
        if (print_term(f, buf, index, depth + 1) != 0)
            return -1;
        if (pairs && (fputs(" => ", f), print_term(f, buf, index, depth + 1)) != 0)
            return -1;
    }
    return 0;
}

static int print_bytes(FILE *f, const char *buf, int *index, int type, int size)
{
    char *b = malloc((size_t)size + 1);
    long got = size;
    int rc = !b                       ? -1
             : type == ERL_STRING_EXT ? ei_decode_string(buf, index, b)
                                      : ei_decode_binary(buf, index, b, &got);
    if (rc == 0 && type == ERL_STRING_EXT && !print_quoted(f, b, (size_t)size, '"')) {
        fputc('[', f);
        for (int k = 0; k < size; k++)
            fprintf(f, "%s%u", k ? "," : "", (unsigned char)b[k]);
        fputc(']', f);
    } else if (rc == 0 && type == ERL_BINARY_EXT) {
        fputs("<<", f);
        if (size > 0 && !print_quoted(f, b, (size_t)size, '"'))
            for (int k = 0; k < size; k++)
                fprintf(f, "%s%u", k ? "," : "", (unsigned char)b[k]);
        fputs(">>", f);
    }
    free(b);
    return rc;
}

/* Terms this printer has no form for: ei's own printing. */
static int print_other(FILE *f, const char *buf, int *index)
{
    char *s = NULL;
    if (ei_s_print_term(&s, buf, index) < 0) {
        free(s);
        return -1;
    }
    fputs(s, f);
    free(s);
    return 0;
}

static int print_term(FILE *f, const char *buf, int *index, int depth)
{
    int type, size, n;
    if (depth > TERM_TEXT_MAX_DEPTH || ei_get_type(buf, index, &type, &size) != 0)
        return -1;
    switch (type) {
    case ERL_SMALL_INTEGER_EXT:
    case ERL_INTEGER_EXT:
    case ERL_SMALL_BIG_EXT:
    case ERL_LARGE_BIG_EXT: {
        long long v;
        int at = *index;
        if (ei_decode_longlong(buf, index, &v) == 0)
            return fprintf(f, "%lld", v) < 0;
        *index = at;
        return print_other(f, buf, index);
    }
    case ERL_FLOAT_EXT:
    case NEW_FLOAT_EXT: {
        double d;
        if (ei_decode_double(buf, index, &d) != 0)
            return -1;
        print_float(f, d);
        return 0;
    }
    case ERL_ATOM_EXT:
    case ERL_SMALL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT: {
        char a[MAXATOMLEN_UTF8];
        if (ei_decode_atom_as(buf, index, a, sizeof(a), ERLANG_UTF8, NULL, NULL) < 0)
            return -1;
        if (bare_atom(a) || !print_quoted(f, a, strlen(a), '\''))
            fputs(a, f);
        return 0;
    }
    case ERL_STRING_EXT:
    case ERL_BINARY_EXT:
        return print_bytes(f, buf, index, type, size);
    case ERL_SMALL_TUPLE_EXT:
    case ERL_LARGE_TUPLE_EXT:
        if (ei_decode_tuple_header(buf, index, &n) != 0)
            return -1;
        fputc('{', f);
        if (print_items(f, buf, index, n, 0, depth) != 0)
            return -1;
        fputc('}', f);
        return 0;
    case ERL_NIL_EXT:
    case ERL_LIST_EXT:
        if (ei_decode_list_header(buf, index, &n) != 0)
            return -1;
        fputc('[', f);
        if (print_items(f, buf, index, n, 0, depth) != 0)
            return -1;
        if (n > 0 && ei_get_type(buf, index, &type, &size) == 0 && type == ERL_NIL_EXT)
            (void)ei_decode_list_header(buf, index, &size);
        else if (n > 0 && (fputc('|', f), print_term(f, buf, index, depth + 1)) != 0)
            return -1;
        fputc(']', f);
        return 0;
    case ERL_MAP_EXT:
        if (ei_decode_map_header(buf, index, &n) != 0)
            return -1;
        fputs("#{", f);
        if (print_items(f, buf, index, n, 1, depth) != 0)
            return -1;
        fputc('}', f);
        return 0;
    default:
        return print_other(f, buf, index);
    }
}

char *term_text_format(const char *buf, int *index)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    int at = *index;
    int rc = print_term(f, buf, &at, 0);
    if (fclose(f) != 0 || rc != 0) {
        free(out);
        return NULL;
    }
    *index = at;
    return out;
}
