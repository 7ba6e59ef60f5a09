/*
 * fixture.h - the emulator fixture of the end-to-end unit tests
 * (test_grant, test_token, test_verify): one emulator for the test
 * program, a configuration written and loaded for it, a context opened on
 * it, a cold cache. Every step is asserted (cmocka); only the public
 * functions of config.h and token.h are used.
 */
#ifndef MSOAUTH_TESTS_FIXTURE_H
#define MSOAUTH_TESTS_FIXTURE_H

#include "config.h"
#include "emu.h"
#include "log.h"
#include "result.h"
#include "token.h"

/* The test program's emulator: started by fixture_setup, stopped by
 * fixture_teardown. */
extern struct emu emu;

/* cmocka group setup and teardown: start and stop emu. */
int fixture_setup(void **state);
int fixture_teardown(void **state);

/* Removes the emulator's cache directory: the next context starts cold. */
void fixture_cold_cache(void);

/* Writes the configuration name under the emulator's directory (its
 * defaults, then extra; see emu_write_config) and loads it with flags
 * (MSOAUTH_CONFIG_*) into *cfg_r, which the caller frees. */
void fixture_config(const char *name, const char *extra, unsigned flags,
                    struct msoauth_config **cfg_r, struct msoauth_err *err);

/* fixture_config, then a context on it logging to log (may be NULL) into
 * *ctx_r; the caller frees both. The cache is left as it is. */
void fixture_ctx(const char *name, const char *extra, unsigned flags,
                 const struct msoauth_log *log, struct msoauth_config **cfg_r,
                 struct msoauth_ctx **ctx_r, struct msoauth_err *err);

#endif
