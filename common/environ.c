/*
 * environ.c - what the caller's environment may tell libcurl and OpenSSL.
 *
 * glibc strips LD_* and a few others for a setuid program, but libcurl reads
 * SSLKEYLOGFILE, *_proxy and CURL_SSL_BACKEND with plain getenv(), and
 * libcrypto reads OPENSSL_ia32cap the same way (its own secure_getenv()
 * covers OPENSSL_CONF and the like only for AT_SECURE). The caller of su
 * chooses all of them. Removing them is the only remedy that holds whatever
 * the library versions; what was read before we could act is refused.
 */
#include "config_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "environ.h"

extern char **environ;

/* Longest variable name logged (a longer one is cut in the log). */
#define ENV_NAME_MAX 256
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Read by libcrypto's constructor as it is loaded (CPU capability masks):
 * too late to remove, so refused in a secure-exec process. */
static const char *const read_at_load[] = {
    "OPENSSL_ia32cap",  "OPENSSL_armcap",     "OPENSSL_ppccap",
    "OPENSSL_s390xcap", "OPENSSL_sparcv9cap", "OPENSSL_riscvcap",
};

/* Read by libcurl or OpenSSL (exact names); prefixes are in removable(). */
static const char *const read_later[] = {
    "SSLKEYLOGFILE", "QLOGDIR",      "NTLMUSER",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "CTLOG_FILE",
};

int msoauth_secure_exec(void) {
  return getauxval(AT_SECURE) != 0 || getuid() != geteuid() ||
         getgid() != getegid();
}

static int listed(const char *name, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(name, list[i]) == 0)
      return 1;
  return 0;
}

static int ends_with_proxy(const char *name) {
  size_t len = strlen(name);

  return len >= 6 && strcasecmp(name + len - 6, "_proxy") == 0;
}

/* Whether the variable goes: SSLKEYLOGFILE always; in a secure-exec
 * process whatever libcurl (CURL_*, *_proxy) or OpenSSL (OPENSSL_*) reads. */
static int removable(const char *name, int secure) {
  if (strcmp(name, "SSLKEYLOGFILE") == 0)
    return 1;
  if (!secure)
    return 0;
  return listed(name, read_later, COUNT(read_later)) || ends_with_proxy(name) ||
         strncmp(name, "CURL_", 5) == 0 || strncmp(name, "OPENSSL_", 8) == 0;
}

/* Removes the first removable variable, and copies its name (cut at
 * ENV_NAME_MAX - 1 bytes) into name for the log; 0 when there was none. */
static int remove_one(int secure, char *name) {
  for (char **e = environ; e != NULL && *e != NULL; e++) {
    char *full;
    int gone = 0;

    if (strchr(*e, '=') == NULL)
      continue; /* not a variable unsetenv() could remove */
    full = strndup(*e, strcspn(*e, "="));
    if (full == NULL)
      return 0;
    if (removable(full, secure) &&
        !listed(full, read_at_load, COUNT(read_at_load))) {
      snprintf(name, ENV_NAME_MAX, "%s", full);
      gone = unsetenv(full) == 0;
    }
    free(full);
    if (gone)
      return 1;
  }
  return 0;
}

msoauth_rc msoauth_environ_prepare(const struct msoauth_log *log,
                                   struct msoauth_err *err) {
  int secure = msoauth_secure_exec();
  char name[ENV_NAME_MAX];
  size_t entries = 0;

  /* At most one pass per entry, whatever unsetenv() makes of odd ones. */
  for (char **e = environ; e != NULL && *e != NULL; e++)
    entries++;
  while (entries-- > 0 && remove_one(secure, name))
    MSOAUTH_DEBUG(log, "removed %s from the environment%s", name,
                  secure ? " (setuid or setgid process)" : "");
  if (!secure)
    return MSOAUTH_OK;
  for (size_t i = 0; i < COUNT(read_at_load); i++)
    if (getenv(read_at_load[i]) != NULL)
      return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                          "%s is set in a setuid or setgid process: libcrypto "
                          "has read it already; refusing to go on",
                          read_at_load[i]);
  return MSOAUTH_OK;
}
