#include "config_build.h"
/*
 * fixture.c - the emulator fixture of the end-to-end unit tests (see
 * fixture.h).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fixture.h"

struct emu emu;

int fixture_setup(void **state) {
  (void)state;
  return emu_start(&emu, NULL);
}

int fixture_teardown(void **state) {
  (void)state;
  emu_stop(&emu);
  return 0;
}

void fixture_cold_cache(void) {
  char cmd[400];

  snprintf(cmd, sizeof(cmd), "rm -rf '%s/cache'", emu.dir);
  assert_int_equal(system(cmd), 0);
}

void fixture_config(const char *name, const char *extra, unsigned flags,
                    struct msoauth_config **cfg_r, struct msoauth_err *err) {
  const char *path = emu_write_config(&emu, name, extra);

  assert_non_null(path);
  assert_int_equal(
      msoauth_config_load(path, NULL, NULL, 0, flags, NULL, cfg_r, err),
      MSOAUTH_OK);
}

void fixture_ctx(const char *name, const char *extra, unsigned flags,
                 const struct msoauth_log *log, struct msoauth_config **cfg_r,
                 struct msoauth_ctx **ctx_r, struct msoauth_err *err) {
  fixture_config(name, extra, flags, cfg_r, err);
  assert_int_equal(msoauth_ctx_new(*cfg_r, log, ctx_r, err), MSOAUTH_OK);
}
