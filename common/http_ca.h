/*
 * http_ca.h - the CA bundle of an HTTP handle, for http.c alone: opened
 * when the handle is made (before a chroot: Postfix's smtp makes its
 * handle, then chroots), its bytes read by the first request, so that a
 * process that never makes one never holds them.
 */
#ifndef MSOAUTH_HTTP_CA_H
#define MSOAUTH_HTTP_CA_H

#include <stddef.h>
#include <sys/types.h>

#include "log.h"
#include "result.h"

struct msoauth_http_ca {
  int fd;     /* the bundle, open from msoauth_http_ca_open until read */
  dev_t dev;  /* the opened file's identity: a host that closed every */
  ino_t ino;  /* descriptor may have reused fd for a file of its own */
  char *file; /* the bundle's name, for messages */
  char *pem;  /* its bytes (PEM), from msoauth_http_ca_read; NULL before */
  size_t len;
};

/*
 * Opens file, or the system's default bundle when file is NULL, and checks
 * it as the first request will (a regular file of at most 4 MiB that holds
 * a PEM certificate), reading it in small chunks and keeping none of it.
 * When the default bundle is missing and dir_configured (ca_path is set),
 * the handle has no bundle, which is not an error. MSOAUTH_ERR_IO or
 * MSOAUTH_ERR_NOMEM otherwise. ca is initialised here; free it with
 * msoauth_http_ca_free whatever the result.
 */
msoauth_rc msoauth_http_ca_open(struct msoauth_http_ca *ca, const char *file,
                                int dir_configured,
                                const struct msoauth_log *log,
                                struct msoauth_err *err)
    __attribute__((warn_unused_result));

/*
 * Reads the opened bundle into ca->pem, once (later calls do nothing), and
 * closes it. Through the descriptor, so that it works inside a chroot; by
 * name only when the descriptor no longer is the file opened (the host
 * closed it). Nothing is done for a handle without a bundle.
 */
msoauth_rc msoauth_http_ca_read(struct msoauth_http_ca *ca,
                                struct msoauth_err *err)
    __attribute__((warn_unused_result));

void msoauth_http_ca_free(struct msoauth_http_ca *ca);

#endif
