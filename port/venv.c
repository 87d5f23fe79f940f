/*
 * venv: the checks and the program name of a virtualenv (see venv.h).
 *
 * DESIGN: pyvenv.cfg is read line by line, `key = value`, keys without
 * case, as CPython's getpath and site read it. A version of the venv that
 * differs from the running libpython's in major.minor is refused: its
 * site-packages hold extension modules and byte code of the other
 * version, and its `home` another standard library, so Python would fail
 * later and far less clearly (or not at all, and crash on an import).
 */
#include "venv.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_BYTES 4096

static char program[PATH_MAX];

/* Leading and trailing blanks of s cut off, in place. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Whether `key` (any case) is `want`. */
static int key_is(const char *key, const char *want)
{
    return strcasecmp(key, want) == 0;
}

/* The venv's version from its pyvenv.cfg into out: `version` (venv), else
 * `version_info` (virtualenv, uv); "" when it names none. 0, or -errno. */
static int read_version(FILE *f, char *out, size_t outlen)
{
    char line[LINE_BYTES];
    out[0] = '\0';
    while (fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *key = trim(line), *value = trim(eq + 1);
        if (key_is(key, "version") || (key_is(key, "version_info") && out[0] == '\0'))
            snprintf(out, outlen, "%s", value);
    }
    return ferror(f) ? -EIO : 0;
}

/* Whether versions a and b agree in their first two numbers. */
static int same_minor(const char *a, const char *b)
{
    unsigned am, an, bm, bn;
    return sscanf(a, "%u.%u", &am, &an) == 2 && sscanf(b, "%u.%u", &bm, &bn) == 2 && am == bm &&
           an == bn;
}

/* "3.11" of "3.11.2 (main, ...)". */
static void minor_of(const char *version, char *out, size_t outlen)
{
    unsigned m = 0, n = 0;
    if (sscanf(version, "%u.%u", &m, &n) == 2)
        snprintf(out, outlen, "%u.%u", m, n);
    else
        snprintf(out, outlen, "%s", version);
}

int venv_check(const char *dir, const char *python, char *err, size_t errlen)
{
    char cfg[PATH_MAX], version[128];
    if (snprintf(cfg, sizeof(cfg), "%s/pyvenv.cfg", dir) >= (int)sizeof(cfg)) {
        snprintf(err, errlen, "venv path too long (%zu bytes)", strlen(dir));
        return -1;
    }
    FILE *f = fopen(cfg, "r");
    if (!f) {
        snprintf(err, errlen, "venv %s: cannot read %s: %s (is it a virtualenv?)", dir, cfg,
                 strerror(errno));
        return -1;
    }
    int rc = read_version(f, version, sizeof(version));
    fclose(f);
    char running[32], minor[32];
    snprintf(running, sizeof(running), "%s", python);
    running[strcspn(running, " ")] = '\0';
    minor_of(running, minor, sizeof(minor));
    if (rc != 0) {
        snprintf(err, errlen, "venv %s: cannot read %s", dir, cfg);
        return -1;
    }
    if (version[0] != '\0' && !same_minor(version, running)) {
        snprintf(err, errlen,
                 "venv %s was made by Python %s, but py_port runs Python %s: make the venv "
                 "with Python %s, or build py_port against the venv's Python (PYTHON=...)",
                 dir, version, running, minor);
        return -1;
    }
    return 0;
}

int venv_use(const char *dir)
{
    if (snprintf(program, sizeof(program), "%s/bin/python", dir) >= (int)sizeof(program)) {
        program[0] = '\0';
        return -1;
    }
    unsetenv("PYTHONHOME");
    return 0;
}

const char *venv_program(void)
{
    return program[0] ? program : NULL;
}
