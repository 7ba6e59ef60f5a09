/*
 * curl_spy.h - sees when a module maps and starts libcurl, for the setuid
 * programs (tests/pam/setuid_driver, tests/sasl/setuid_client), which are
 * not linked with libcurl themselves.
 *
 * Mapped: libcurl.so.4 is in the process (the module maps it with dlopen).
 * Started: libcurl's curl_global_init starts OpenSSL's TLS with
 * OPENSSL_init_ssl; the program defines that function itself (linked with
 * -Wl,--export-dynamic-symbol=OPENSSL_init_ssl), so libcurl's call lands
 * here first and is counted; the real one is then called. Nothing else in
 * these programs starts libssl: their configurations use no Redis over TLS.
 */
#ifndef MSOAUTH_TESTS_CURL_SPY_H
#define MSOAUTH_TESTS_CURL_SPY_H

/* How many times OPENSSL_init_ssl was called in this process. */
extern int curl_spy_tls_starts;

/* Whether libcurl is mapped in this process now. */
int curl_spy_mapped(void);

#endif
