/*
 * record: frames appended to a file as they were received (see record.h).
 *
 * DESIGN: writev() of the 4-byte prefix and the frame, following partial
 * writes; no buffer of our own. Reader thread only.
 */
#include "record.h"

#include "writer.h"

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
    return writer_write_all(fd, iov, 2);
}
