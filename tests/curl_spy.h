/*
 * curl_spy.h - counts when a module starts libcurl: the program defines
 * curl_global_init itself (linked with
 * -Wl,--export-dynamic-symbol=curl_global_init), so the module's call
 * lands here first; the real one is then called. Used by the setuid
 * programs (tests/pam/setuid_driver, tests/sasl/setuid_client).
 */
#ifndef MSOAUTH_TESTS_CURL_SPY_H
#define MSOAUTH_TESTS_CURL_SPY_H

/* How many times curl_global_init was called in this process. */
extern int curl_spy_inits;

#endif
