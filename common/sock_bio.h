/*
 * sock_bio.h - an OpenSSL BIO over a connected socket that never raises
 * SIGPIPE: OpenSSL's own socket BIO writes with write(), and a peer gone
 * would deliver SIGPIPE to the host (Postfix, Dovecot, sshd), whose
 * signal handling is not ours to touch. This one sends with MSG_NOSIGNAL.
 */
#ifndef MSOAUTH_SOCK_BIO_H
#define MSOAUTH_SOCK_BIO_H

#include <openssl/bio.h>

/* The method, for the life of the BIOs made with it; free it with
 * BIO_meth_free after them. NULL when out of memory. */
BIO_METHOD *msoauth_sock_bio_method(void);

/* A BIO of method over fd (not closed with the BIO); NULL when out of
 * memory. */
BIO *msoauth_sock_bio_new(BIO_METHOD *method, int fd);

#endif
