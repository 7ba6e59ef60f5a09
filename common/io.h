/*
 * io.h - small file descriptor helpers shared by the core and the tools.
 */
#ifndef MSOAUTH_IO_H
#define MSOAUTH_IO_H

#include <stddef.h>

/* Writes all len bytes at p to fd, through short writes and EINTR.
 * Returns 0, or -1 with errno set. */
int msoauth_write_all(int fd, const char *p, size_t len);

#endif
