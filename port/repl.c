/*
 * repl: the REPL and --replay over the port's dispatch (see repl.h).
 *
 * DESIGN: the printing thread owns the read end of the reply pipe and is
 * the only one to print replies; the main thread prints prompts, echoes
 * and mistakes, between requests, when no reply is outstanding. `printed`
 * counts the replies (frames with a ReplyTo) printed; the main thread
 * waits on `cond` until it catches up with the requests sent. Events
 * (frames without a ReplyTo, and those of Python code calling Erlang) are
 * printed, not counted; so are the errors of requests whose ReplyTo is
 * `cast` (a recording of the application holds casts), which get no other
 * reply and are not waited for. With no Erlang to run them, calls of Erlang
 * functions are answered here, by NameError in Python (as for a name
 * that nobody registered): a request waiting for one would never end.
 */
#include "repl.h"

#include "envelope.h"
#include "frame.h"
#include "protocol.h"
#include "repl_command.h"
#include "term_text.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK 4096

struct repl {
    FILE *out;
    int pipe_rd;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    long printed;            /* replies printed; under mu */
    int ended;               /* the printing thread has stopped; under mu */
    struct waiters *waiters; /* of the dispatch, to answer callbacks; under mu */
    long sent;               /* requests sent; main thread only */
};

/* What a frame from the port is, by its routing header. */
enum frame_kind { REPLY, EVENT, CALLBACK, SEND, CAST };

/* The kind of frame f, and for a callback its id. */
static enum frame_kind kind_of(const char *f, size_t hdr, long *id)
{
    int at = 2, version, arity;
    char tag[MAXATOMLEN_UTF8];
    if (hdr == 0)
        return EVENT;
    if (ei_decode_version(f, &at, &version) != 0)
        return REPLY;
    int term = at;
    if (ei_decode_atom(f, &at, tag) == 0)
        return strcmp(tag, "py_send") == 0 ? SEND : strcmp(tag, "cast") == 0 ? CAST : REPLY;
    at = term;
    if (ei_decode_tuple_header(f, &at, &arity) == 0 && arity == 2 &&
        ei_decode_atom(f, &at, tag) == 0 && strcmp(tag, "py_callback") == 0 &&
        ei_decode_long(f, &at, id) == 0)
        return CALLBACK;
    return REPLY;
}

/* Answers callback id with {not_found, Name}: nothing runs Erlang here. */
static void answer_callback(struct repl *r, long id)
{
    ei_x_buff x;
    pthread_mutex_lock(&r->mu);
    struct waiters *ws = r->waiters;
    pthread_mutex_unlock(&r->mu);
    if (!ws || ei_x_new_with_version(&x) != 0)
        return;
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "callback_result");
    ei_x_encode_long(&x, id);
    int body = x.index;
    if (ei_x_encode_tuple_header(&x, 2) == 0 && ei_x_encode_atom(&x, "not_found") == 0 &&
        ei_x_encode_atom(&x, "undefined") == 0)
        waiters_deliver(ws, id, x.buff, (size_t)x.index, body); /* takes the buffer */
    else
        ei_x_free(&x);
}

/* Prints one frame from the port: its payload as text, after what it is
 * when it is not a reply. Returns 1 for a reply, else 0. */
static int print_reply(struct repl *r, const char *f, size_t len)
{
    static const char *const prefix[] = {
        [REPLY] = "",
        [EVENT] = "% event: ",
        [CALLBACK] = "% erlang.call, answered NameError (no Erlang here): ",
        [SEND] = "% erlang.send: ",
        [CAST] = "% cast: ",
    };
    size_t hdr = len >= 2 ? ((size_t)(unsigned char)f[0] << 8 | (unsigned char)f[1]) : 0;
    int at = 0, version;
    long id = -1;
    const char *payload = f + 2 + hdr;
    char *text = NULL;
    enum frame_kind kind = len >= 2 + hdr ? kind_of(f, hdr, &id) : REPLY;
    if (len >= 2 + hdr && ei_decode_version(payload, &at, &version) == 0)
        text = term_text_format(payload, &at);
    fprintf(r->out, "%s%s\n", prefix[kind], text ? text : "* unreadable reply");
    fflush(r->out);
    free(text);
    if (kind == CALLBACK)
        answer_callback(r, id);
    return kind == REPLY;
}

static void *printing(void *arg)
{
    struct repl *r = arg;
    struct frame_reader fr;
    char *f;
    size_t len;
    if (frame_reader_init(&fr, r->pipe_rd, PY_PORT_MAX_FRAME) == 0) {
        while (frame_read(&fr, &f, &len) > 0) {
            int counted = print_reply(r, f, len);
            free(f);
            pthread_mutex_lock(&r->mu);
            r->printed += counted;
            pthread_cond_broadcast(&r->cond);
            pthread_mutex_unlock(&r->mu);
        }
        frame_reader_destroy(&fr);
    }
    pthread_mutex_lock(&r->mu);
    r->ended = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

struct repl *repl_start(int out_fd, int *writer_fd)
{
    int p[2] = {-1, -1};
    struct repl *r = calloc(1, sizeof(*r));
    if (!r || pipe2(p, O_CLOEXEC) != 0 || !(r->out = fdopen(out_fd, "w")))
        goto fail;
    r->pipe_rd = p[0];
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (pthread_create(&r->thread, NULL, printing, r) != 0)
        goto fail;
    *writer_fd = p[1];
    return r;
fail:
    if (p[0] >= 0)
        close(p[0]), close(p[1]);
    if (r && r->out)
        fclose(r->out);
    free(r);
    return NULL;
}

/* Whether the request in frame gets no reply (stream_credit,
 * callback_result), or only an error (ReplyTo `cast`). */
static int unanswered(const char *frame, size_t len)
{
    struct envelope env;
    return envelope_decode(frame, len, &env) == 0 &&
           (env.op == ENVELOPE_STREAM_CREDIT || env.op == ENVELOPE_CALLBACK_RESULT ||
            envelope_is_cast(frame, &env));
}

/* Sends one request through the port's dispatch and waits for its reply
 * to be printed. Takes frame. */
static void send_and_wait(struct repl *r, struct dispatch *d, char *frame, size_t len)
{
    pthread_mutex_lock(&r->mu);
    r->waiters = d->waiters;
    pthread_mutex_unlock(&r->mu);
    if (unanswered(frame, len)) {
        dispatch_frame(d, frame, len);
        return;
    }
    r->sent++;
    dispatch_frame(d, frame, len);
    pthread_mutex_lock(&r->mu);
    while (r->printed < r->sent && !r->ended)
        pthread_cond_wait(&r->cond, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

/* One typed command. Returns 1 after q., else 0. */
static int command(struct repl *r, struct dispatch *d, const char *text, size_t len)
{
    char err[256], *frame;
    size_t flen;
    switch (repl_command_request(text, len, r->sent + 1, &frame, &flen, err, sizeof(err))) {
    case REPL_COMMAND_REQUEST:
        send_and_wait(r, d, frame, flen);
        return 0;
    case REPL_COMMAND_HELP:
        fputs(repl_command_help, r->out);
        break;
    case REPL_COMMAND_QUIT:
        return 1;
    case REPL_COMMAND_ERROR:
        fprintf(r->out, "* %s\n", err);
        break;
    }
    fflush(r->out);
    return 0;
}

/* Whether text[0, len) holds only blanks. */
static int blank(const char *text, size_t len)
{
    for (size_t k = 0; k < len; k++)
        if (!strchr(" \t\r\n", text[k]))
            return 0;
    return 1;
}

int repl_run(struct repl *r, struct dispatch *d, int in_fd)
{
    static const char start[] = "{start_pool, default, 1}.";
    int tty = isatty(in_fd), rc = 0, quit;
    size_t len = 0, cap = READ_CHUNK, end;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    fprintf(r->out, "%% %s\n", start);
    quit = command(r, d, start, sizeof(start) - 1);
    while (!quit) {
        if (tty) {
            fputs(blank(buf, len) ? "py> " : "..> ", r->out);
            fflush(r->out);
        }
        if (cap - len < READ_CHUNK) {
            char *more = realloc(buf, cap *= 2);
            if (!more) {
                rc = -ENOMEM;
                break;
            }
            buf = more;
        }
        ssize_t got = read(in_fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            rc = -errno;
        if (got <= 0)
            break;
        len += (size_t)got;
        while (!quit && (end = repl_command_end(buf, len)) > 0) {
            quit = command(r, d, buf, end);
            memmove(buf, buf + end, len - end);
            len -= end;
        }
    }
    if (!quit && rc == 0 && !blank(buf, len))
        command(r, d, buf, len); /* the last command, its '.' missing */
    free(buf);
    return rc;
}

int repl_replay(struct repl *r, struct dispatch *d, const char *path)
{
    struct frame_reader fr;
    char *frame, *text;
    size_t len;
    int rc, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (frame_reader_init(&fr, fd, PY_PORT_MAX_FRAME) != 0) {
        close(fd);
        return -ENOMEM;
    }
    while ((rc = frame_read(&fr, &frame, &len)) > 0) {
        int at = 0, version, end = 1;
        text = ei_decode_version(frame, &at, &version) == 0 &&
                       envelope_skip_term(frame, len, &end) == 0
                   ? term_text_format(frame, &at)
                   : NULL;
        if (text)
            fprintf(r->out, "%% %s\n", text);
        else
            fprintf(r->out, "%% (a frame of %zu bytes that is not a term)\n", len);
        fflush(r->out);
        free(text);
        send_and_wait(r, d, frame, len);
    }
    frame_reader_destroy(&fr);
    close(fd);
    return rc;
}
