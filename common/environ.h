/*
 * environ.h - what the caller's environment may tell libcurl and OpenSSL.
 *
 * Both read some variables with plain getenv(), setuid or not: libcurl opens
 * the file named in SSLKEYLOGFILE and writes TLS secrets into it, and takes
 * proxies from *_proxy. A setuid or setgid host (su, sudo, a setgid SASL
 * client) must not let its caller steer them, so in such a process those
 * variables are removed before libcurl and OpenSSL are first initialised.
 */
#ifndef MSOAUTH_ENVIRON_H
#define MSOAUTH_ENVIRON_H

#include "log.h"
#include "result.h"

/* Whether the process runs with privileges its caller may not have: a
 * setuid, setgid or file-capability exec (AT_SECURE), or real and effective
 * user or group ids that differ. */
int msoauth_secure_exec(void);

/*
 * Makes the environment safe for libcurl's and OpenSSL's first
 * initialisation; called before libcurl is initialised (and earlier, when a
 * handle is made, since OpenSSL may be used before). Always removes
 * SSLKEYLOGFILE. In a secure-exec process also removes every proxy variable
 * (any name ending in _proxy, any case) and the other variables libcurl and
 * OpenSSL read (CURL_SSL_BACKEND, QLOGDIR, OPENSSL_CONF, OPENSSL_ENGINES,
 * SSL_CERT_FILE, ...), and refuses (MSOAUTH_ERR_CONFIG) when a variable that
 * libcrypto read as it was loaded, before any code of ours ran, is set
 * (OPENSSL_ia32cap and the other CPU capability masks). The names removed
 * are logged at debug, never the values. Not thread-safe against threads
 * that read the environment at the same time (setenv never is).
 */
msoauth_rc msoauth_environ_prepare(const struct msoauth_log *log,
                                   struct msoauth_err *err)
    __attribute__((warn_unused_result));

#endif
