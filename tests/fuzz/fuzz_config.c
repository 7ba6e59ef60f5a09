/*
 * fuzz_config.c - libFuzzer target: the configuration parser
 * (msoauth_config_load) on a file written from the input.
 *
 * The input is up to three parts separated by lines holding only "%%":
 * the msoauth.conf text, the text of an aliases file, and overrides, one
 * KEY=VALUE per line. "@D" in the configuration and the overrides stands
 * for a private directory made at start, which also holds a secret file
 * (secret, mode 0600), one readable by others (secret-open), a certificate
 * and a key (cert.pem, key.pem), an empty file (empty), a FIFO (fifo) and a
 * symbolic link to the secret (secret-link), so that seeds can name files
 * that exist.
 * Each input is loaded twice: profile [fuzz] with the overrides, and the
 * defaults alone as PAM does.
 *
 * Beyond memory safety: a failure returns no configuration, sets err and
 * logs printable lines; a success obeys the rules config.h promises.
 */
#include "config_build.h"

#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "fuzz.h"

#define PROFILE "fuzz"
#define SEPARATOR "%%"
#define OVERRIDES_MAX 16
/* A load reads a few small files: far longer means it waited. */
#define LOAD_MS_MAX 2000
/* Large enough for any input libFuzzer is asked to make, with "@D"
 * expanded. */
#define TEXT_MAX (4 * 1024 * 1024)

/* Memory-backed when the system has it: ext4 flushes a file truncated and
 * written again at close, which would make each run wait for the disk. */
#define DIR_TEMPLATE "msoauth-fuzz-config-XXXXXX"
static char dir[64];
static char conf_path[sizeof(dir) + 16];
static char aliases_path[sizeof(dir) + 16];

static const struct {
  const char *name;
  const char *text;
  mode_t mode;
} fixtures[] = {
    {"secret", "s3cret-value\n", 0600},
    {"secret-open", "s3cret-value\n", 0644},
    {"cert.pem", "-----BEGIN CERTIFICATE-----\n", 0644},
    {"key.pem", "-----BEGIN PRIVATE KEY-----\n", 0600},
    {"empty", "", 0600},
};

/* Hostile shapes of a file named by the configuration: a FIFO (opening it
 * for reading must not wait for a writer) and a symbolic link. */
#define FIFO_NAME "fifo"
#define LINK_NAME "secret-link"

static void path_in_dir_of(char *buf, size_t size, const char *parent,
                           const char *name) {
  int n = snprintf(buf, size, "%s/%s", parent, name);

  FUZZ_CHECK(n > 0 && (size_t)n < size);
}

static void path_in_dir(char *buf, size_t size, const char *name) {
  path_in_dir_of(buf, size, dir, name);
}

/* Writes len bytes into path, replacing it; the mode is kept exact. */
static void write_file(const char *path, const char *text, size_t len,
                       mode_t mode) {
  int fd;

  /* A new file rather than a truncated one (see DIR_TEMPLATE). */
  FUZZ_CHECK(unlink(path) == 0 || errno == ENOENT);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(fchmod(fd, mode) == 0);
  while (len > 0) {
    ssize_t n = write(fd, text, len);

    if (n < 0 && errno == EINTR)
      continue;
    FUZZ_CHECK(n > 0);
    text += n;
    len -= (size_t)n;
  }
  FUZZ_CHECK(close(fd) == 0);
}

static void remove_dir(void) {
  char path[sizeof(dir) + 32];

  for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
    path_in_dir(path, sizeof(path), fixtures[i].name);
    unlink(path);
  }
  path_in_dir(path, sizeof(path), FIFO_NAME);
  unlink(path);
  path_in_dir(path, sizeof(path), LINK_NAME);
  unlink(path);
  unlink(conf_path);
  unlink(aliases_path);
  rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  char path[sizeof(dir) + 32];

  struct stat st;
  const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
                             access("/dev/shm", W_OK) == 0
                         ? "/dev/shm"
                         : "/tmp";

  (void)argc;
  (void)argv;
  path_in_dir_of(dir, sizeof(dir), base, DIR_TEMPLATE);
  FUZZ_CHECK(mkdtemp(dir) != NULL);
  path_in_dir(conf_path, sizeof(conf_path), "msoauth.conf");
  path_in_dir(aliases_path, sizeof(aliases_path), "aliases");
  for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
    path_in_dir(path, sizeof(path), fixtures[i].name);
    write_file(path, fixtures[i].text, strlen(fixtures[i].text),
               fixtures[i].mode);
  }
  path_in_dir(path, sizeof(path), FIFO_NAME);
  FUZZ_CHECK(mkfifo(path, 0600) == 0);
  path_in_dir(path, sizeof(path), LINK_NAME);
  FUZZ_CHECK(symlink("secret", path) == 0);
  atexit(remove_dir);
  return 0;
}

/* Appends p[0..n) to out with "@D" replaced by the directory. */
static void expand(struct msoauth_buf *out, const char *p, size_t n) {
  while (n > 0) {
    const char *at = memchr(p, '@', n);
    size_t run = at != NULL ? (size_t)(at - p) : n;

    FUZZ_CHECK(msoauth_buf_add(out, p, run) == MSOAUTH_OK);
    p += run;
    n -= run;
    if (n >= 2 && p[1] == 'D') {
      FUZZ_CHECK(msoauth_buf_adds(out, dir) == MSOAUTH_OK);
      p += 2;
      n -= 2;
    } else if (n > 0) {
      FUZZ_CHECK(msoauth_buf_add(out, p, 1) == MSOAUTH_OK);
      p++;
      n--;
    }
  }
  /* An empty buffer still gets its terminator. */
  FUZZ_CHECK(msoauth_buf_add(out, "", 0) == MSOAUTH_OK);
}

/* The next part of the input: up to a line "%%" or the end. *p and *n are
 * moved past it and its separator; 0 when there is no part left. */
static int next_part(const char **p, size_t *n, const char **part,
                     size_t *len) {
  const char *s, *end;

  if (*p == NULL)
    return 0;
  s = *p;
  end = s + *n;
  *part = s;
  for (const char *line = s; line < end;) {
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    const char *stop = nl != NULL ? nl : end;

    if ((size_t)(stop - line) == 2 && memcmp(line, SEPARATOR, 2) == 0) {
      *len = (size_t)(line - s);
      *p = nl != NULL ? nl + 1 : end;
      *n = (size_t)(end - *p);
      return 1;
    }
    line = nl != NULL ? nl + 1 : end;
  }
  *len = *n;
  *p = NULL;
  *n = 0;
  return 1;
}

/* Cuts the overrides text (mutable, terminated) into lines. */
static size_t split_overrides(char *text, const char **out) {
  size_t n = 0;

  while (*text != '\0' && n < OVERRIDES_MAX) {
    char *nl = strchr(text, '\n');

    out[n++] = text;
    if (nl == NULL)
      break;
    *nl = '\0';
    text = nl + 1;
  }
  return n;
}

static int lowercase_ascii(const char *s) {
  for (; *s != '\0'; s++)
    if (*s >= 'A' && *s <= 'Z')
      return 0;
  return 1;
}

static int has_word(const char *list, const char *word) {
  size_t len = strlen(word);

  for (const char *p = list; *p != '\0';) {
    size_t n = strcspn(p, " ");

    if (n == len && memcmp(p, word, len) == 0)
      return 1;
    p += n;
    p += strspn(p, " ");
  }
  return 0;
}

static void check_config(const struct msoauth_config *cfg, unsigned flags) {
  size_t alen = strlen(cfg->authority);

  FUZZ_CHECK(strncasecmp(cfg->authority, "https://", 8) == 0);
  FUZZ_CHECK(alen > 8 && cfg->authority[alen - 1] != '/');
  FUZZ_CHECK(cfg->tenant != NULL && cfg->client_id != NULL);
  FUZZ_CHECK(cfg->scope != NULL && cfg->scope[0] != '\0');
  FUZZ_CHECK(cfg->cache_dir != NULL && cfg->cache_dir[0] == '/');
  FUZZ_CHECK((cfg->domains == NULL) == (cfg->n_domains == 0));
  for (size_t i = 0; i < cfg->n_domains; i++)
    FUZZ_CHECK(cfg->domains[i] != NULL && lowercase_ascii(cfg->domains[i]));
  FUZZ_CHECK(cfg->default_domain == NULL ||
             lowercase_ascii(cfg->default_domain));
  for (size_t i = 0; i < cfg->n_aliases; i++)
    FUZZ_CHECK(lowercase_ascii(cfg->aliases[i].alias) &&
               lowercase_ascii(cfg->aliases[i].primary));
  FUZZ_CHECK(cfg->connect_timeout >= 1 &&
             cfg->connect_timeout <= cfg->timeout && cfg->timeout <= 300);
  FUZZ_CHECK(cfg->retries >= 0 && cfg->retries <= 10);
  FUZZ_CHECK(
      !(cfg->client_secret != NULL && cfg->client_certificate_file != NULL));
  FUZZ_CHECK((cfg->client_certificate_file == NULL) ==
             (cfg->client_key_file == NULL));
  FUZZ_CHECK(cfg->auth != MSOAUTH_AUTH_APP || msoauth_config_confidential(cfg));
  FUZZ_CHECK(cfg->auth != MSOAUTH_AUTH_SERVICE_ACCOUNT ||
             cfg->service_account != NULL);
  if (flags & MSOAUTH_CONFIG_VERIFY_PASSWORDS) {
    FUZZ_CHECK(cfg->auth == MSOAUTH_AUTH_PASSWORD);
    FUZZ_CHECK(has_word(cfg->scope, "openid") &&
               has_word(cfg->scope, "profile"));
  }
}

static long long now_ms(void) {
  struct timespec ts;

  FUZZ_CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void load(const char *profile, const char *const *overrides,
                 size_t n_overrides, unsigned flags) {
  const struct msoauth_log log = {fuzz_log_sink, NULL, MSOAUTH_LOG_DEBUG};
  struct msoauth_config *cfg = NULL;
  struct msoauth_err err;
  long long start = now_ms();
  msoauth_rc rc;

  rc = msoauth_config_load(conf_path, profile, overrides, n_overrides, flags,
                           &log, &cfg, &err);
  /* Loading never waits on a file (a FIFO named as a secret file would
   * hang the PAM stack). libFuzzer's own -timeout does not catch this: its
   * alarm interrupts the blocked open(), which then fails. */
  FUZZ_CHECK(now_ms() - start < LOAD_MS_MAX);
  fuzz_check_err(&err, rc);
  if (rc == MSOAUTH_OK) {
    FUZZ_CHECK(cfg != NULL);
    check_config(cfg, flags);
  } else {
    FUZZ_CHECK(cfg == NULL);
  }
  msoauth_config_free(&cfg);
  FUZZ_CHECK(cfg == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data, *part = NULL;
  const char *overrides[OVERRIDES_MAX];
  struct msoauth_buf conf, args;
  size_t n = size, len = 0, n_overrides = 0;

  msoauth_buf_init(&conf, TEXT_MAX, 0);
  msoauth_buf_init(&args, TEXT_MAX, 0);
  if (next_part(&p, &n, &part, &len))
    expand(&conf, part, len);
  else
    expand(&conf, "", 0);
  write_file(conf_path, conf.data, conf.len, 0600);
  if (next_part(&p, &n, &part, &len))
    write_file(aliases_path, part, len, 0600);
  else
    write_file(aliases_path, "", 0, 0600);
  if (next_part(&p, &n, &part, &len)) {
    expand(&args, part, len);
    n_overrides = split_overrides(args.data, overrides);
  }
  load(PROFILE, overrides, n_overrides, 0);
  load(NULL, NULL, 0, MSOAUTH_CONFIG_VERIFY_PASSWORDS);
  msoauth_buf_free(&conf);
  msoauth_buf_free(&args);
  return 0;
}
