/*
 * emu.c - starting and steering the Entra ID emulator from C tests.
 */
#include "config_build.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "emu.h"

#define EMU_START_SECONDS 20

static const char *srcdir(void) {
  const char *dir = getenv("MSOAUTH_SRCDIR");

  return dir != NULL ? dir : ".";
}

static int file_exists(const char *path) {
  struct stat st;

  return stat(path, &st) == 0;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

  nanosleep(&ts, NULL);
}

static int read_small_file(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "r");
  size_t n;

  if (f == NULL)
    return -1;
  n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = '\0';
  buf[strcspn(buf, "\r\n")] = '\0';
  return 0;
}

static void exec_emulator(struct emu *emu, const char *const *extra_args) {
  char *argv[32];
  char script[512];
  const char *python = getenv("PYTHON3");
  size_t n = 0;

  snprintf(script, sizeof(script), "%s/tests/emulator/entra_emu.py", srcdir());
  /* The child copies its arguments: execv's prototype wants them mutable. */
  argv[n++] = strdup(python != NULL && *python ? python : "/usr/bin/python3");
  argv[n++] = script;
  argv[n++] = strdup("--state-dir");
  argv[n++] = emu->dir;
  argv[n++] = strdup("--lifetime");
  argv[n++] = strdup("600");
  for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL && n < 31; i++)
    argv[n++] = strdup(extra_args[i]);
  argv[n] = NULL;
  execv(argv[0], argv);
  fprintf(stderr, "emu: cannot run %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

/* Waits for DIR/ready, or the child's death, for EMU_START_SECONDS. */
static int wait_ready(struct emu *emu) {
  char path[320];

  snprintf(path, sizeof(path), "%s/ready", emu->dir);
  for (int i = 0; i < EMU_START_SECONDS * 50; i++) {
    int status;

    if (file_exists(path))
      return 0;
    if (waitpid(emu->pid, &status, WNOHANG) == emu->pid) {
      fprintf(stderr, "emu: the emulator exited during start-up\n");
      emu->pid = 0;
      return -1;
    }
    sleep_ms(20);
  }
  fprintf(stderr, "emu: the emulator did not become ready\n");
  return -1;
}

/* Starts the emulator in emu->dir, which exists. */
static int launch(struct emu *emu, const char *const *extra_args) {
  char path[320];

  snprintf(path, sizeof(path), "%s/ready", emu->dir);
  unlink(path);
  emu->pid = fork();
  if (emu->pid < 0) {
    perror("emu: fork");
    return -1;
  }
  if (emu->pid == 0)
    exec_emulator(emu, extra_args);
  if (wait_ready(emu) != 0) {
    emu_stop(emu);
    return -1;
  }
  snprintf(path, sizeof(path), "%s/url", emu->dir);
  if (read_small_file(path, emu->url, sizeof(emu->url)) != 0) {
    emu_stop(emu);
    return -1;
  }
  snprintf(emu->ca, sizeof(emu->ca), "%s/ca.pem", emu->dir);
  return 0;
}

int emu_start(struct emu *emu, const char *const *extra_args) {
  memset(emu, 0, sizeof(*emu));
  snprintf(emu->dir, sizeof(emu->dir), "/tmp/msoauth-emu-XXXXXX");
  if (mkdtemp(emu->dir) == NULL) {
    perror("emu: mkdtemp");
    emu->dir[0] = '\0';
    return -1;
  }
  return launch(emu, extra_args);
}

int emu_restart(struct emu *emu, const char *const *extra_args) {
  emu_kill(emu);
  return launch(emu, extra_args);
}

void emu_kill(struct emu *emu) {
  if (emu->pid > 0) {
    kill(emu->pid, SIGTERM);
    waitpid(emu->pid, NULL, 0);
    emu->pid = 0;
  }
}

void emu_stop(struct emu *emu) {
  char cmd[300];

  emu_kill(emu);
  if (emu->dir[0] != '\0' && strncmp(emu->dir, "/tmp/msoauth-emu-", 17) == 0) {
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", emu->dir);
    if (system(cmd) != 0)
      fprintf(stderr, "emu: could not remove %s\n", emu->dir);
  }
  emu->dir[0] = '\0';
}

static size_t collect(char *p, size_t size, size_t n, void *arg) {
  FILE *f = arg;

  return fwrite(p, size, n, f);
}

/* One control request; returns the body (caller frees) on a 2xx answer. */
static char *control(struct emu *emu, const char *path, const char *json) {
  CURL *curl = curl_easy_init();
  struct curl_slist *headers = NULL;
  char url[512], *body = NULL;
  size_t body_len = 0;
  FILE *out = open_memstream(&body, &body_len);
  long status = 0;
  CURLcode res;

  if (curl == NULL || out == NULL) {
    if (out != NULL)
      fclose(out);
    free(body);
    curl_easy_cleanup(curl);
    return NULL;
  }
  snprintf(url, sizeof(url), "%s%s", emu->url, path);
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_CAINFO, emu->ca);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
  if (json != NULL) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
  }
  res = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  fclose(out);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (res != CURLE_OK || status < 200 || status > 299) {
    fprintf(stderr, "emu: %s: %s (HTTP %ld)\n", path, curl_easy_strerror(res),
            status);
    free(body);
    return NULL;
  }
  return body;
}

char *emu_get(struct emu *emu, const char *path) {
  return control(emu, path, NULL);
}

char *emu_post_body(struct emu *emu, const char *path, const char *json) {
  return control(emu, path, json != NULL ? json : "{}");
}

int emu_post(struct emu *emu, const char *path, const char *json) {
  char *body = control(emu, path, json != NULL ? json : "{}");

  free(body);
  return body != NULL ? 0 : -1;
}

int emu_reset(struct emu *emu) { return emu_post(emu, "/_emu/reset", "{}"); }

long emu_ctl_total(struct emu *emu) {
  char cmd[1024], line[64];
  FILE *p;
  char *end;
  long n = -1;

  snprintf(cmd, sizeof(cmd),
           "/usr/bin/python3 %s/tests/emulator/emuctl.py --state-dir %s "
           "--field total counters",
           srcdir(), emu->dir);
  p = popen(cmd, "r");
  if (p == NULL)
    return -1;
  if (fgets(line, sizeof(line), p) != NULL) {
    n = strtol(line, &end, 10);
    if (end == line || (*end != '\n' && *end != '\0'))
      n = -1;
  }
  if (pclose(p) != 0)
    n = -1;
  return n;
}

long emu_count(struct emu *emu, const char *what) {
  char *body = emu_get(emu, "/_emu/counters");
  struct json_object *root, *group, *val;
  const char *colon = strchr(what, ':');
  char section[64];
  long n = -1;

  if (body == NULL)
    return -1;
  root = json_tokener_parse(body);
  free(body);
  if (root == NULL)
    return -1;
  if (colon == NULL) {
    if (json_object_object_get_ex(root, what, &val))
      n = (long)json_object_get_int64(val);
  } else {
    snprintf(section, sizeof(section), "by_%.*s", (int)(colon - what), what);
    n = 0; /* a counter never incremented is absent */
    if (json_object_object_get_ex(root, section, &group) &&
        json_object_object_get_ex(group, colon + 1, &val))
      n = (long)json_object_get_int64(val);
  }
  json_object_put(root);
  return n;
}

const char *emu_write_file(struct emu *emu, const char *name,
                           const char *content, int mode) {
  static char path[512];
  int fd;
  size_t len = strlen(content);

  snprintf(path, sizeof(path), "%s/%s", emu->dir, name);
  unlink(path);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return NULL;
  if (fchmod(fd, (mode_t)mode) != 0 || write(fd, content, len) != (ssize_t)len) {
    close(fd);
    return NULL;
  }
  close(fd);
  return path;
}

/* Whether the defaults section of text (the lines before any "[") sets
 * key. */
static int sets_default(const char *text, const char *key) {
  size_t n = strlen(key);

  for (const char *line = text; line != NULL && *line != '\0';) {
    if (*line == '[')
      return 0;
    if (strncmp(line, key, n) == 0 && (line[n] == ' ' || line[n] == '='))
      return 1;
    line = strchr(line, '\n');
    if (line != NULL)
      line++;
  }
  return 0;
}

const char *emu_write_config(struct emu *emu, const char *name,
                             const char *extra) {
  const char *more = extra != NULL ? extra : "";
  char *text = NULL;
  int n = asprintf(&text,
                   "# written by the test suite\n"
                   "authority = %s\n"
                   "%s"
                   "%s"
                   "ca_file = %s\n"
                   "cache_dir = %s/cache\n"
                   "%s",
                   emu->url,
                   sets_default(more, "tenant") ? "" : "tenant = contoso.com\n",
                   sets_default(more, "client_id")
                       ? ""
                       : "client_id = " EMU_PUBLIC_CLIENT "\n",
                   emu->ca, emu->dir, more);
  const char *path;

  if (n < 0)
    return NULL;
  path = emu_write_file(emu, name, text, 0600);
  free(text);
  return path;
}

const struct emu_fault emu_faults[] = {
    {"{\"kind\": \"delay\", \"seconds\": 6}", 0, 1, EMU_FAULT_TIMEOUT - 0.2,
     EMU_FAULT_TIMEOUT + 1, "time limit"},
    /* The password grant is not sent again after a 5xx without
     * Retry-After (on-premises AD would count it twice), but is after a
     * 503 with Retry-After. */
    {"{\"kind\": \"status\", \"status\": 500, \"count\": 2}", 0, 1, 0,
     EMU_FAULT_TIMEOUT, "HTTP 500"},
    {"{\"kind\": \"status\", \"status\": 503, \"retry_after\": 1}", 1, 2,
     0.95, EMU_FAULT_TIMEOUT, NULL},
    {"{\"kind\": \"throttle\", \"retry_after\": 1}", 1, 2, 0.95,
     EMU_FAULT_TIMEOUT, NULL},
    /* Beyond the budget: no sleep at all, let alone past the timeout. */
    {"{\"kind\": \"throttle\", \"retry_after\": 60}", 0, 1, 0, 1.5,
     "retry after 60 s"},
    {"{\"kind\": \"malformed\", \"count\": -1}", 0, 1, 0, EMU_FAULT_TIMEOUT,
     "not a JSON object"},
    {"{\"kind\": \"wrong_types\", \"count\": -1}", 0, 1, 0, EMU_FAULT_TIMEOUT,
     "malformed token"},
    {"{\"kind\": \"missing_fields\", \"count\": -1}", 0, 1, 0,
     EMU_FAULT_TIMEOUT, "without access_token"},
    {"{\"kind\": \"expires\", \"expires_in\": -5, \"count\": -1}", 0, 1, 0,
     EMU_FAULT_TIMEOUT, "expires_in"},
    {"{\"kind\": \"expires\", \"expires_in\": 0, \"count\": -1}", 0, 1, 0,
     EMU_FAULT_TIMEOUT, "expires_in"},
    {"{\"kind\": \"expires\", \"expires_in\": 9999999999, \"count\": -1}", 0,
     1, 0, EMU_FAULT_TIMEOUT, "expires_in"},
    {"{\"kind\": \"huge\", \"count\": -1}", 0, 1, 0, EMU_FAULT_TIMEOUT,
     "larger than"},
    /* An answer cut short: the password went out, it is not sent again. */
    {"{\"kind\": \"close\", \"count\": -1}", 0, 1, 0, EMU_FAULT_TIMEOUT,
     "closed"},
    /* libcurl itself resends once on a reused connection closed before any
     * byte of an answer (a keep-alive race), so the count is not fixed. */
    {"{\"kind\": \"drop\", \"count\": -1}", 0, -1, 0, EMU_FAULT_TIMEOUT,
     "Empty reply"},
    {"{\"kind\": \"redirect\", \"count\": -1}", 0, 1, 0, EMU_FAULT_TIMEOUT,
     "not followed"},
};

const size_t emu_n_faults = sizeof(emu_faults) / sizeof(emu_faults[0]);
