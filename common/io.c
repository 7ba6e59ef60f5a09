/*
 * io.c - small file descriptor helpers.
 */
#include "config_build.h"

#include <errno.h>
#include <unistd.h>

#include "io.h"

int msoauth_write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    if (n == 0) {
      errno = EIO;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}
