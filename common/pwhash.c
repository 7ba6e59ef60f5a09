/*
 * pwhash.c - PBKDF2-HMAC-SHA256 verifiers of passwords, in the string
 * form "pbkdf2-sha256$ITERATIONS$SALT$HASH" (base64url, no padding).
 */
#include "config_build.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base64.h"
#include "buf.h"
#include "pwhash.h"

#define PREFIX "pbkdf2-sha256$"
#define SALT_LEN 16
#define HASH_LEN 32
/* Bounds on the iterations a stored verifier may ask for: below, it would
 * be too cheap to guess; above, one check could stall a login. */
#define ITERATIONS_MIN 1000L
#define ITERATIONS_MAX 10000000L
/* Longest string form: prefix, 8 digits, 2 * '$', 22 + 43 characters. */
#define VERIFIER_MAX 128

/* The parts of a parsed verifier. */
struct parsed {
  long iterations;
  unsigned char salt[SALT_LEN];
  unsigned char hash[HASH_LEN];
};

/* PBKDF2-HMAC-SHA256 of password into out[HASH_LEN]. */
static msoauth_rc derive(const struct msoauth_secret *password,
                         const unsigned char *salt, long iterations,
                         unsigned char *out) {
  if (PKCS5_PBKDF2_HMAC(msoauth_secret_value(password),
                        (int)msoauth_secret_len(password), salt, SALT_LEN,
                        (int)iterations, EVP_sha256(), HASH_LEN, out) != 1) {
    msoauth_wipe(out, HASH_LEN);
    return MSOAUTH_ERR_NOMEM;
  }
  return MSOAUTH_OK;
}

static msoauth_rc parse(const char *verifier, struct parsed *p);

msoauth_rc msoauth_verifier_make(const struct msoauth_secret *password,
                                 char **verifier_r) {
  return msoauth_verifier_make_with(password, MSOAUTH_VERIFIER_ITERATIONS,
                                    NULL, verifier_r);
}

msoauth_rc msoauth_verifier_make_with(const struct msoauth_secret *password,
                                      long iterations, const char *like,
                                      char **verifier_r) {
  unsigned char salt[SALT_LEN];
  unsigned char hash[HASH_LEN];
  struct parsed p;
  struct msoauth_buf out;
  msoauth_rc rc;

  *verifier_r = NULL;
  msoauth_buf_init(&out, VERIFIER_MAX, 1);
  if (password == NULL || iterations < ITERATIONS_MIN ||
      iterations > ITERATIONS_MAX)
    return MSOAUTH_ERR_INVALID;
  if (like != NULL && parse(like, &p) == MSOAUTH_OK &&
      p.iterations == iterations)
    memcpy(salt, p.salt, SALT_LEN);
  else if (RAND_bytes(salt, sizeof(salt)) != 1)
    return MSOAUTH_ERR_NOMEM;
  msoauth_wipe(&p, sizeof(p));
  rc = derive(password, salt, iterations, hash);
  if (rc)
    goto out;
  rc = msoauth_buf_addf(&out, PREFIX "%ld$", iterations);
  if (!rc)
    rc = msoauth_base64_encode(&out, salt, sizeof(salt), 1);
  if (!rc)
    rc = msoauth_buf_adds(&out, "$");
  if (!rc)
    rc = msoauth_base64_encode(&out, hash, sizeof(hash), 1);
  if (rc)
    goto out;
  *verifier_r = msoauth_buf_take(&out);
out:
  msoauth_wipe(hash, sizeof(hash));
  msoauth_buf_free(&out);
  return rc;
}

/* Decodes exactly want bytes of base64url from s[0..len) into dst. */
static msoauth_rc decode_exact(const char *s, size_t len, unsigned char *dst,
                               size_t want) {
  struct msoauth_buf buf;
  msoauth_rc rc;

  msoauth_buf_init(&buf, want, 0);
  rc = msoauth_base64_decode(&buf, s, len, 1);
  if (!rc && buf.len != want)
    rc = MSOAUTH_ERR_INVALID;
  if (!rc)
    memcpy(dst, buf.data, want);
  msoauth_buf_free(&buf);
  return rc;
}

/* Iterations: plain decimal digits, within bounds. */
static msoauth_rc parse_iterations(const char *s, size_t len, long *out) {
  char digits[16];
  char *end;
  long v;

  /* One spelling per value: no leading zero. */
  if (len == 0 || len >= sizeof(digits) || s[0] == '0')
    return MSOAUTH_ERR_INVALID;
  for (size_t i = 0; i < len; i++)
    if (s[i] < '0' || s[i] > '9')
      return MSOAUTH_ERR_INVALID; /* no sign, space or "0x" for strtol */
  memcpy(digits, s, len);
  digits[len] = '\0';
  errno = 0;
  v = strtol(digits, &end, 10);
  if (errno != 0 || *end != '\0' || v < ITERATIONS_MIN || v > ITERATIONS_MAX)
    return MSOAUTH_ERR_INVALID;
  *out = v;
  return MSOAUTH_OK;
}

/* Strict parse of "pbkdf2-sha256$ITERATIONS$SALT$HASH". */
static msoauth_rc parse(const char *verifier, struct parsed *p) {
  const char *it, *salt, *hash;
  msoauth_rc rc;

  if (strlen(verifier) > VERIFIER_MAX ||
      strncmp(verifier, PREFIX, strlen(PREFIX)) != 0)
    return MSOAUTH_ERR_INVALID;
  it = verifier + strlen(PREFIX);
  salt = strchr(it, '$');
  if (salt == NULL)
    return MSOAUTH_ERR_INVALID;
  salt++;
  hash = strchr(salt, '$');
  if (hash == NULL)
    return MSOAUTH_ERR_INVALID;
  hash++;
  /* base64url has no '$': a fourth one is an extra part. */
  if (strchr(hash, '$') != NULL)
    return MSOAUTH_ERR_INVALID;
  rc = parse_iterations(it, (size_t)(salt - 1 - it), &p->iterations);
  if (!rc)
    rc = decode_exact(salt, (size_t)(hash - 1 - salt), p->salt, SALT_LEN);
  if (!rc)
    rc = decode_exact(hash, strlen(hash), p->hash, HASH_LEN);
  return rc;
}

msoauth_rc msoauth_verifier_check(const char *verifier,
                                  const struct msoauth_secret *password) {
  struct parsed p;
  unsigned char hash[HASH_LEN];
  msoauth_rc rc;

  if (verifier == NULL || password == NULL)
    return MSOAUTH_ERR_INVALID;
  rc = parse(verifier, &p);
  if (rc)
    goto out;
  rc = derive(password, p.salt, p.iterations, hash);
  if (rc)
    goto out;
  if (CRYPTO_memcmp(hash, p.hash, HASH_LEN) != 0)
    rc = MSOAUTH_ERR_BAD_CREDENTIALS;
out:
  msoauth_wipe(hash, sizeof(hash));
  msoauth_wipe(&p, sizeof(p));
  return rc;
}

int msoauth_verifier_find(const char *const *verifiers, size_t n,
                          const struct msoauth_secret *password) {
  struct parsed p[8];
  unsigned char hash[8][HASH_LEN];
  int ok[8] = {0};
  int found = -1;

  if (password == NULL || n > 8)
    return -1;
  for (size_t i = 0; i < n && found < 0; i++) {
    size_t j;

    if (verifiers[i] == NULL || parse(verifiers[i], &p[i]) != MSOAUTH_OK)
      continue;
    /* The same salt and cost as one already derived: the same hash. */
    for (j = 0; j < i; j++)
      if (ok[j] && p[j].iterations == p[i].iterations &&
          memcmp(p[j].salt, p[i].salt, SALT_LEN) == 0)
        break;
    if (j < i)
      memcpy(hash[i], hash[j], HASH_LEN);
    else if (derive(password, p[i].salt, p[i].iterations, hash[i]) !=
             MSOAUTH_OK)
      continue;
    ok[i] = 1;
    if (CRYPTO_memcmp(hash[i], p[i].hash, HASH_LEN) == 0)
      found = (int)i;
  }
  msoauth_wipe(hash, sizeof(hash));
  msoauth_wipe(p, sizeof(p));
  return found;
}

/* ------------------------------------------------------------ jobs */

struct msoauth_verifier_job {
  struct msoauth_secret *password; /* a copy, wiped at finish */
  char *verifier;
  msoauth_rc rc;
  pthread_t thread;
  int threaded;
  pid_t pid; /* the process that started the thread */
};

static void *job_run(void *arg) {
  struct msoauth_verifier_job *job = arg;

  job->rc = msoauth_verifier_make(job->password, &job->verifier);
  return NULL;
}

/* The job's thread, started with every signal blocked (no signal of the
 * host lands there) without touching the caller's mask; 0 when it was
 * not started (the verifier is then made inline). */
static int start_thread(struct msoauth_verifier_job *job) {
  int started = 0;
#ifdef HAVE_PTHREAD_ATTR_SETSIGMASK_NP
  pthread_attr_t attr;
  sigset_t all;

  sigfillset(&all);
  if (pthread_attr_init(&attr) != 0)
    return 0;
  if (pthread_attr_setsigmask_np(&attr, &all) == 0)
    started = pthread_create(&job->thread, &attr, job_run, job) == 0;
  pthread_attr_destroy(&attr);
#else
  (void)job;
#endif
  return started;
}

msoauth_rc msoauth_verifier_start(const struct msoauth_secret *password,
                                  struct msoauth_verifier_job **job_r) {
  struct msoauth_verifier_job *job = calloc(1, sizeof(*job));

  *job_r = NULL;
  if (job == NULL)
    return MSOAUTH_ERR_NOMEM;
  if (password == NULL ||
      msoauth_secret_dup(password, &job->password) != MSOAUTH_OK) {
    free(job);
    return password == NULL ? MSOAUTH_ERR_INVALID : MSOAUTH_ERR_NOMEM;
  }
  job->pid = getpid();
  job->threaded = start_thread(job);
  *job_r = job;
  return MSOAUTH_OK;
}

msoauth_rc msoauth_verifier_finish(struct msoauth_verifier_job **job,
                                   char **verifier_r) {
  struct msoauth_verifier_job *j;
  msoauth_rc rc;

  if (verifier_r != NULL)
    *verifier_r = NULL;
  if (job == NULL || *job == NULL)
    return MSOAUTH_ERR_INVALID;
  j = *job;
  /* A forked child has no such thread: it makes the verifier itself. */
  if (j->threaded && j->pid == getpid())
    pthread_join(j->thread, NULL);
  else {
    msoauth_free_wiped(&j->verifier); /* the parent's thread may have set it */
    j->rc = msoauth_verifier_make(j->password, &j->verifier);
  }
  rc = j->rc;
  if (!rc && verifier_r != NULL)
    *verifier_r = j->verifier;
  else
    msoauth_free_wiped(&j->verifier);
  msoauth_secret_free(&j->password);
  free(j);
  *job = NULL;
  return rc;
}

/* ------------------------------------------------------------ memo */

#define MEMO_BUCKETS 256

/* One success: the tag of (verifier, password). */
struct memo_node {
  struct memo_node *next;
  unsigned char tag[HASH_LEN];
};

struct msoauth_verifier_memo {
  pthread_mutex_t lock;
  /* SHA-256 with the HMAC key's inner and outer pads absorbed, made once:
   * a tag then costs two copies and the hashing of its own bytes. */
  EVP_MD_CTX *inner, *outer; /* the key's pads, from the first use */
  int keyed;
  struct memo_node *buckets[MEMO_BUCKETS];
  size_t count;
  unsigned long hits; /* checks answered here */
};

/* ctx: SHA-256 that has absorbed the 64-byte block key ^ pad. */
static int absorb_pad(EVP_MD_CTX *ctx, const unsigned char *key,
                      unsigned char pad) {
  unsigned char block[64];
  int ok;

  memset(block, pad, sizeof(block));
  for (size_t i = 0; i < HASH_LEN; i++)
    block[i] ^= key[i];
  ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
       EVP_DigestUpdate(ctx, block, sizeof(block)) == 1;
  msoauth_wipe(block, sizeof(block));
  return ok;
}

/* len bytes from the kernel's random generator (getrandom blocks only
 * until it is first seeded). For a key that never leaves the process,
 * without setting up OpenSSL's generator (about 110 KiB of memory). */
static int kernel_random(unsigned char *p, size_t len) {
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return 0;
    p += n;
    len -= (size_t)n;
  }
  return 1;
}

/* Keys the memo at its first use (its lock held): a random key, absorbed
 * into the two pads. Not when it is made: a process that never checks a
 * password (a client without XOAUTH2 logins, libsasl2 loads every plugin)
 * never starts OpenSSL's digests for it. */
static int memo_keyed(struct msoauth_verifier_memo *memo) {
  unsigned char key[HASH_LEN];

  if (memo->keyed)
    return 1;
  memo->keyed = kernel_random(key, sizeof(key)) &&
                absorb_pad(memo->inner, key, 0x36) &&
                absorb_pad(memo->outer, key, 0x5c);
  msoauth_wipe(key, sizeof(key));
  return memo->keyed;
}

msoauth_rc msoauth_verifier_memo_new(struct msoauth_verifier_memo **memo_r) {
  struct msoauth_verifier_memo *memo = calloc(1, sizeof(*memo));

  *memo_r = NULL;
  if (memo == NULL)
    return MSOAUTH_ERR_NOMEM;
  pthread_mutex_init(&memo->lock, NULL);
  memo->inner = EVP_MD_CTX_new();
  memo->outer = EVP_MD_CTX_new();
  if (memo->inner == NULL || memo->outer == NULL) {
    msoauth_verifier_memo_free(&memo);
    return MSOAUTH_ERR_NOMEM;
  }
  *memo_r = memo;
  return MSOAUTH_OK;
}

/* Forgets every success (the memo's lock held, or no other user). */
static void memo_clear(struct msoauth_verifier_memo *memo) {
  for (size_t i = 0; i < MEMO_BUCKETS; i++) {
    while (memo->buckets[i] != NULL) {
      struct memo_node *node = memo->buckets[i];

      memo->buckets[i] = node->next;
      free(node);
    }
  }
  memo->count = 0;
}

void msoauth_verifier_memo_free(struct msoauth_verifier_memo **memo) {
  if (memo == NULL || *memo == NULL)
    return;
  memo_clear(*memo);
  EVP_MD_CTX_free((*memo)->inner); /* wipes what it absorbed */
  EVP_MD_CTX_free((*memo)->outer);
  pthread_mutex_destroy(&(*memo)->lock);
  msoauth_wipe(*memo, sizeof(**memo));
  free(*memo);
  *memo = NULL;
}

unsigned long msoauth_verifier_memo_hits(struct msoauth_verifier_memo *memo) {
  unsigned long hits;

  pthread_mutex_lock(&memo->lock);
  hits = memo->hits;
  pthread_mutex_unlock(&memo->lock);
  return hits;
}

/* The tag of (verifier, password): HMAC-SHA256, under the memo's random
 * key, of the verifier, a NUL (a verifier holds none) and the password.
 * Neither can be told from the tag, nor the tag made without the key. */
static msoauth_rc memo_tag(struct msoauth_verifier_memo *memo,
                           const char *verifier,
                           const struct msoauth_secret *password,
                           unsigned char *tag) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char in[HASH_LEN];
  unsigned int len = 0, len2 = 0;
  int ok;

  pthread_mutex_lock(&memo->lock);
  ok = ctx != NULL && memo_keyed(memo) &&
       EVP_MD_CTX_copy_ex(ctx, memo->inner) == 1;
  pthread_mutex_unlock(&memo->lock);
  ok = ok && EVP_DigestUpdate(ctx, verifier, strlen(verifier) + 1) == 1 &&
       EVP_DigestUpdate(ctx, msoauth_secret_value(password),
                        msoauth_secret_len(password)) == 1 &&
       EVP_DigestFinal_ex(ctx, in, &len) == 1 && len == HASH_LEN;
  if (ok) {
    pthread_mutex_lock(&memo->lock);
    ok = EVP_MD_CTX_copy_ex(ctx, memo->outer) == 1;
    pthread_mutex_unlock(&memo->lock);
  }
  ok = ok && EVP_DigestUpdate(ctx, in, sizeof(in)) == 1 &&
       EVP_DigestFinal_ex(ctx, tag, &len2) == 1 && len2 == HASH_LEN;
  msoauth_wipe(in, sizeof(in));
  EVP_MD_CTX_free(ctx);
  return ok ? MSOAUTH_OK : MSOAUTH_ERR_NOMEM;
}

static struct memo_node **memo_bucket(struct msoauth_verifier_memo *memo,
                                      const unsigned char *tag) {
  return &memo->buckets[((size_t)tag[0] << 8 | tag[1]) % MEMO_BUCKETS];
}

static int memo_find(struct msoauth_verifier_memo *memo,
                     const unsigned char *tag) {
  int hit = 0;

  pthread_mutex_lock(&memo->lock);
  for (const struct memo_node *n = *memo_bucket(memo, tag); n != NULL && !hit;
       n = n->next)
    hit = CRYPTO_memcmp(n->tag, tag, HASH_LEN) == 0;
  memo->hits += (unsigned long)hit;
  pthread_mutex_unlock(&memo->lock);
  return hit;
}

/* Remembers a success; a full memo starts again empty. Out of memory, it
 * is simply not remembered. */
static void memo_add(struct msoauth_verifier_memo *memo,
                     const unsigned char *tag) {
  struct memo_node *node = malloc(sizeof(*node));
  struct memo_node **bucket;

  if (node == NULL)
    return;
  memcpy(node->tag, tag, HASH_LEN);
  pthread_mutex_lock(&memo->lock);
  if (memo->count >= MSOAUTH_VERIFIER_MEMO_MAX)
    memo_clear(memo);
  bucket = memo_bucket(memo, tag);
  node->next = *bucket;
  *bucket = node;
  memo->count++;
  pthread_mutex_unlock(&memo->lock);
}

msoauth_rc msoauth_verifier_check_memo(struct msoauth_verifier_memo *memo,
                                       const char *verifier,
                                       const struct msoauth_secret *password) {
  unsigned char tag[HASH_LEN];
  msoauth_rc rc;

  if (memo == NULL || verifier == NULL || password == NULL ||
      memo_tag(memo, verifier, password, tag) != MSOAUTH_OK)
    return msoauth_verifier_check(verifier, password);
  if (memo_find(memo, tag)) {
    rc = MSOAUTH_OK;
  } else {
    rc = msoauth_verifier_check(verifier, password);
    if (!rc)
      memo_add(memo, tag);
  }
  msoauth_wipe(tag, sizeof(tag));
  return rc;
}
