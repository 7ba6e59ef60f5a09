/*
 * emu.h - starting and steering the Entra ID emulator from C tests.
 *
 * Each test process may start its own emulator (tests/emulator/entra_emu.py)
 * on a free loopback port, in a fresh state directory that is removed when
 * it stops.
 */
#ifndef MSOAUTH_TESTS_EMU_H
#define MSOAUTH_TESTS_EMU_H

#include <sys/types.h>

#define EMU_TENANT_ID "7f0d5b1e-3c2a-4e8b-9a61-2b5c8d4e1f00"
#define EMU_PUBLIC_CLIENT "11111111-1111-1111-1111-111111111111"
#define EMU_SECRET_CLIENT "22222222-2222-2222-2222-222222222222"
#define EMU_CLIENT_SECRET "s3cr3t~Value.With-Chars_0123456789"
#define EMU_CERT_CLIENT "33333333-3333-3333-3333-333333333333"
#define EMU_UNCONSENTED_CLIENT "44444444-4444-4444-4444-444444444444"
#define EMU_MULTI_TENANT_CLIENT "55555555-5555-5555-5555-555555555555"
/* Woodgrove: a second tenant, with mallory@woodgrove.com. */
#define EMU_FOREIGN_TENANT_ID "9b1c4d2e-5f6a-4b7c-8d9e-0a1b2c3d4e5f"
#define EMU_MALLORY_PASSWORD "Password1!"
#define EMU_ALICE_PASSWORD "Correct horse battery staple"
#define EMU_BOB_PASSWORD "p&ss=w+rd%;'\" \xc3\xbcn\xc3\xaf"

struct emu {
  char dir[256]; /* state directory */
  char url[128]; /* https://127.0.0.1:PORT */
  char ca[320];  /* DIR/ca.pem */
  pid_t pid;     /* 0 when not running */
};

/* Starts an emulator in a fresh state directory (emu need not be
 * initialised); extra_args (NULL-terminated, may be NULL) are added to its
 * command line. Returns 0, or -1 (with a message on stderr). */
int emu_start(struct emu *emu, const char *const *extra_args);

/* Stops the emulator but keeps the state directory (a test that restarts
 * it, or that reads files left there). */
void emu_kill(struct emu *emu);

/* Starts the emulator again in the same state directory (its certificates
 * are made anew, its port may change). */
int emu_restart(struct emu *emu, const char *const *extra_args);

/* Stops the emulator and removes the state directory. */
void emu_stop(struct emu *emu);

/* A counter of GET /_emu/counters: "total", "endpoint:token",
 * "grant:password", "user:alice@contoso.com", "client:<id>". -1 on error. */
long emu_count(struct emu *emu, const char *what);

/* The "total" counter, asked through emuctl.py, which reaches an emulator
 * whatever its --tls-identity (emu_count trusts only the normal one). -1 on
 * error. */
long emu_ctl_total(struct emu *emu);

/* POSTs json to the control path (e.g. "/_emu/fault"). 0 on a 2xx answer. */
int emu_post(struct emu *emu, const char *path, const char *json);

/* POSTs json to path (e.g. "/_emu/introspect" with a token too long for a
 * URL); the caller frees the body. NULL on error or a non-2xx answer. */
char *emu_post_body(struct emu *emu, const char *path, const char *json);

/* GETs path; the caller frees the body. NULL on error. */
char *emu_get(struct emu *emu, const char *path);

/* Zeroes counters and clears faults and options. 0 on success. */
int emu_reset(struct emu *emu);

/* Writes DIR/NAME holding the emulator's defaults (authority, tenant and
 * public client unless extra's defaults set them, ca_file,
 * cache_dir = DIR/cache) followed by extra (may be NULL), mode 0600.
 * Returns the path, in static storage, or NULL. */
const char *emu_write_config(struct emu *emu, const char *name,
                             const char *extra);

/* Writes a file with the given mode under DIR; returns its path in static
 * storage (overwritten by the next call), or NULL. */
const char *emu_write_file(struct emu *emu, const char *name,
                           const char *content, int mode);

/* A fault of the identity platform (POST /_emu/fault) and what a token
 * acquisition under EMU_FAULT_CONFIG must come to, for every host (SASL,
 * CLI) to run alike. */
struct emu_fault {
  const char *fault;  /* JSON for /_emu/fault */
  int ok;             /* the acquisition succeeds */
  long requests;      /* token requests it makes; -1: any number */
  double min_s;       /* it takes at least ... */
  double max_s;       /* ... and at most this many seconds */
  const char *expect; /* in the message of a failure */
};

#define EMU_FAULT_TIMEOUT 3.0
#define EMU_FAULT_CONFIG "timeout = 3\nretries = 2\n"

/* Slow answer, 5xx (not retried: the password grant), 503 with Retry-After
 * then success, 429 within and beyond the budget,
 * malformed, wrong types, missing fields, bad expires_in, 10 MiB, closed
 * mid-body, dropped, redirected. */
extern const struct emu_fault emu_faults[];
extern const size_t emu_n_faults;

#endif
