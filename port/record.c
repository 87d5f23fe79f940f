/*
 * record: frames appended to a file as they were received (see record.h).
 *
 * DESIGN: writev() of the 4-byte prefix and the frame, following partial
 * writes; no buffer of our own. Reader thread only.
 */
#include "record.h"

#include "frame.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

int record_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    return fd < 0 ? -errno : fd;
}

int record_frame(int fd, const char *frame, size_t len)
{
    char prefix[4];
    frame_put_length(prefix, (uint32_t)len);
    struct iovec iov[2] = {{prefix, sizeof(prefix)}, {(void *)frame, len}};
    int n = 2;
    struct iovec *v = iov;
    while (n > 0) {
        ssize_t put = writev(fd, v, n);
        if (put < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (n > 0 && (size_t)put >= v->iov_len) {
            put -= (ssize_t)v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (char *)v->iov_base + put;
            v->iov_len -= (size_t)put;
        }
    }
    return 0;
}
