/*
 * sock_bio.c - an OpenSSL BIO over a socket that sends with MSG_NOSIGNAL
 * (see sock_bio.h). Non-blocking sockets: EAGAIN sets the retry flags, as
 * OpenSSL's socket BIO does, so SSL_get_error says WANT_READ/WANT_WRITE.
 */
#include "config_build.h"

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sock_bio.h"

static int fd_of(BIO *b) {
  return (int)(intptr_t)BIO_get_data(b);
}

/* A failed call: the retry flag for the transient errors. */
static int failed(BIO *b, int writing) {
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    if (writing)
      BIO_set_retry_write(b);
    else
      BIO_set_retry_read(b);
  }
  return 0;
}

static int sock_write(BIO *b, const char *buf, size_t len, size_t *done) {
  ssize_t n;

  BIO_clear_retry_flags(b);
  n = send(fd_of(b), buf, len, MSG_NOSIGNAL);
  if (n < 0)
    return failed(b, 1);
  *done = (size_t)n;
  return 1;
}

static int sock_read(BIO *b, char *buf, size_t len, size_t *done) {
  ssize_t n;

  BIO_clear_retry_flags(b);
  n = recv(fd_of(b), buf, len, 0);
  if (n < 0)
    return failed(b, 0);
  if (n == 0)
    return 0; /* end of the stream: no retry */
  *done = (size_t)n;
  return 1;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)num;
  switch (cmd) {
  case BIO_C_GET_FD:
    if (ptr != NULL)
      *(int *)ptr = fd_of(b);
    return fd_of(b);
  case BIO_CTRL_FLUSH:
    return 1;
  default:
    return 0;
  }
}

BIO_METHOD *msoauth_sock_bio_method(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK |
                                   BIO_TYPE_DESCRIPTOR,
                               "msoauth socket");

  if (m != NULL && (BIO_meth_set_write_ex(m, sock_write) != 1 ||
                    BIO_meth_set_read_ex(m, sock_read) != 1 ||
                    BIO_meth_set_ctrl(m, sock_ctrl) != 1)) {
    BIO_meth_free(m);
    m = NULL;
  }
  return m;
}

BIO *msoauth_sock_bio_new(BIO_METHOD *method, int fd) {
  BIO *b = BIO_new(method);

  if (b != NULL) {
    BIO_set_data(b, (void *)(intptr_t)fd);
    BIO_set_init(b, 1);
  }
  return b;
}
