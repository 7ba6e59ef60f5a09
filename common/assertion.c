/*
 * assertion.c - certificate credentials: the client assertion JWT.
 *
 * The private key is read through msoauth_secret_read_file, which applies
 * the rules of a private file (no symbolic link, regular, owner only), and
 * parsed from memory, so the PEM text is wiped as soon as it is parsed.
 */
#include "config_build.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "assertion.h"
#include "base64.h"
#include "buf.h"
#include "io.h"

/* Weaker keys are refused, as Entra ID refuses them. */
#define MIN_RSA_BITS 2048

/* Largest certificate file read (a chain of a few certificates). */
#define CERT_FILE_MAX (256 * 1024)

/* Largest assertion built: a 16384-bit signature fits with room to spare. */
#define ASSERTION_MAX (16 * 1024)

struct msoauth_signer {
  EVP_PKEY *key;
  int pss;             /* RSA-PSS key: PS256, else RS256 */
  char *x5t_s256;      /* base64url SHA-256 of the certificate DER */
  long long not_after; /* unix seconds */
};

static msoauth_rc sign(const struct msoauth_signer *signer, const char *data,
                       size_t len, unsigned char **sig_r, size_t *sig_len_r);

/* Refuses encrypted keys without prompting on a terminal. */
static int no_password(char *buf, int size, int rwflag, void *arg) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)arg;
  return 0;
}

/* Parses the PEM private key of key_file; checks its type and size. */
static msoauth_rc load_key(const char *key_file, EVP_PKEY **key_r, int *pss_r,
                           struct msoauth_err *err) {
  struct msoauth_secret *pem = NULL;
  EVP_PKEY *key = NULL;
  BIO *bio = NULL;
  int id;
  msoauth_rc rc;

  rc = msoauth_secret_read_file(key_file, &pem, err);
  if (rc)
    goto out;
  bio =
      BIO_new_mem_buf(msoauth_secret_value(pem), (int)msoauth_secret_len(pem));
  if (bio == NULL) {
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    goto out;
  }
  key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
  ERR_clear_error();
  if (key == NULL) {
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                      "%s: not an unencrypted PEM private key", key_file);
    goto out;
  }
  id = EVP_PKEY_get_base_id(key);
  if (id != EVP_PKEY_RSA && id != EVP_PKEY_RSA_PSS) {
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: not an RSA key", key_file);
    goto out;
  }
  if (EVP_PKEY_get_bits(key) < MIN_RSA_BITS) {
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                      "%s: RSA key of %d bits; at least %d are required",
                      key_file, EVP_PKEY_get_bits(key), MIN_RSA_BITS);
    goto out;
  }
  *pss_r = id == EVP_PKEY_RSA_PSS;
  *key_r = key;
  key = NULL;
out:
  EVP_PKEY_free(key);
  BIO_free(bio);
  msoauth_secret_free(&pem);
  return rc;
}

/* Reads the first PEM certificate of cert_file. The certificate is public,
 * so, unlike the key, it may be reached through a symbolic link and have
 * any owner and mode. */
static msoauth_rc load_cert(const char *cert_file, X509 **cert_r,
                            struct msoauth_err *err) {
  static const struct msoauth_file_policy policy = {
      .owner = MSOAUTH_OWNER_ANY,
      .mode = MSOAUTH_MODE_ANY,
      .follow_symlinks = 1,
      .max = CERT_FILE_MAX,
      .secret = 0,
  };
  struct msoauth_file file;
  enum msoauth_file_problem problem;
  BIO *bio = NULL;
  msoauth_rc rc = MSOAUTH_OK;

  problem = msoauth_file_read(cert_file, &policy, &file);
  switch (problem) {
  case MSOAUTH_FILE_OK:
    break;
  case MSOAUTH_FILE_MISSING:
  case MSOAUTH_FILE_OPEN:
  case MSOAUTH_FILE_SYMLINK:
  case MSOAUTH_FILE_STAT:
  case MSOAUTH_FILE_READ:
    rc = msoauth_fail(err, MSOAUTH_ERR_IO, "%s: %s", cert_file,
                      msoauth_file_why(problem, &file));
    goto out;
  case MSOAUTH_FILE_TOO_LARGE:
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                      "%s: not a certificate file (larger than %d bytes)",
                      cert_file, CERT_FILE_MAX);
    goto out;
  case MSOAUTH_FILE_NOMEM:
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    goto out;
  default: /* not a regular file, changed while read */
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: %s", cert_file,
                      msoauth_file_why(problem, &file));
    goto out;
  }
  bio = BIO_new_mem_buf(file.data.data, (int)file.data.len);
  if (bio == NULL) {
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    goto out;
  }
  *cert_r = PEM_read_bio_X509(bio, NULL, no_password, NULL);
  ERR_clear_error();
  if (*cert_r == NULL)
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: no PEM certificate found",
                      cert_file);
out:
  BIO_free(bio);
  msoauth_file_free(&file);
  return rc;
}

/* base64url of the SHA-256 of the certificate's DER: the x5t#S256 header. */
static msoauth_rc thumbprint(X509 *cert, char **x5t_r,
                             struct msoauth_err *err) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  struct msoauth_buf buf;

  if (X509_digest(cert, EVP_sha256(), md, &n) != 1) {
    ERR_clear_error();
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "cannot compute the certificate's thumbprint");
  }
  msoauth_buf_init(&buf, 64, 0);
  if (msoauth_base64_encode(&buf, md, n, 1) != MSOAUTH_OK) {
    msoauth_buf_free(&buf);
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  }
  *x5t_r = msoauth_buf_take(&buf);
  return MSOAUTH_OK;
}

/* The certificate's notAfter as unix seconds. */
static msoauth_rc not_after(X509 *cert, long long *t_r,
                            struct msoauth_err *err) {
  struct tm tm;
  time_t t;

  memset(&tm, 0, sizeof(tm));
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) {
    ERR_clear_error();
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "the certificate's notAfter is not a valid time");
  }
  t = timegm(&tm);
  if (t == (time_t)-1)
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "the certificate's notAfter is out of range");
  *t_r = (long long)t;
  return MSOAUTH_OK;
}

/* Signs once, so that a key that cannot make our signatures (an RSA-PSS key
 * restricted to another digest) fails when loaded, not at each request. */
static msoauth_rc check_signs(const struct msoauth_signer *signer,
                              const char *key_file, struct msoauth_err *err) {
  unsigned char *sig = NULL;
  size_t sig_len = 0;
  msoauth_rc rc;

  rc = sign(signer, "msoauth", 7, &sig, &sig_len);
  free(sig);
  if (rc == MSOAUTH_ERR_NOMEM)
    return msoauth_fail(err, rc, "out of memory");
  if (rc)
    return msoauth_fail(err, rc, "%s: the key cannot sign with %s", key_file,
                        signer->pss ? "PS256" : "RS256");
  return MSOAUTH_OK;
}

msoauth_rc msoauth_signer_load(const char *cert_file, const char *key_file,
                               struct msoauth_signer **signer_r,
                               struct msoauth_err *err) {
  struct msoauth_signer *signer = NULL;
  X509 *cert = NULL;
  msoauth_rc rc;

  *signer_r = NULL;
  if (cert_file == NULL || key_file == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_INVALID,
                        "a certificate and a key file are both required");
  signer = calloc(1, sizeof(*signer));
  if (signer == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  rc = load_key(key_file, &signer->key, &signer->pss, err);
  if (!rc)
    rc = load_cert(cert_file, &cert, err);
  if (!rc && EVP_PKEY_eq(X509_get0_pubkey(cert), signer->key) != 1) {
    ERR_clear_error();
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                      "%s: the key does not belong to the certificate %s",
                      key_file, cert_file);
  }
  if (!rc)
    rc = thumbprint(cert, &signer->x5t_s256, err);
  if (!rc)
    rc = not_after(cert, &signer->not_after, err);
  if (!rc)
    rc = check_signs(signer, key_file, err);
  if (!rc) {
    *signer_r = signer;
    signer = NULL;
  }
  X509_free(cert);
  msoauth_signer_free(&signer);
  return rc;
}

void msoauth_signer_free(struct msoauth_signer **signer) {
  if (signer == NULL || *signer == NULL)
    return;
  EVP_PKEY_free((*signer)->key);
  free((*signer)->x5t_s256);
  free(*signer);
  *signer = NULL;
}

long long msoauth_signer_not_after(const struct msoauth_signer *signer) {
  return signer->not_after;
}

/* A random (version 4) UUID, for jti; out holds 37 bytes. */
static int random_uuid(char out[37]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char b[16];
  size_t j = 0;

  if (RAND_bytes(b, sizeof(b)) != 1) {
    ERR_clear_error();
    return -1;
  }
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  for (size_t i = 0; i < sizeof(b); i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[j++] = '-';
    out[j++] = hex[b[i] >> 4];
    out[j++] = hex[b[i] & 0x0f];
  }
  out[j] = '\0';
  return 0;
}

/* Adds key: value (a new json-c value, NULL when out of memory) to obj. */
static int add(struct json_object *obj, const char *key,
               struct json_object *value) {
  if (value == NULL)
    return -1;
  if (json_object_object_add(obj, key, value) != 0) {
    json_object_put(value);
    return -1;
  }
  return 0;
}

/* Appends base64url(JSON text of obj) to out. */
static msoauth_rc add_json_part(struct msoauth_buf *out,
                                struct json_object *obj) {
  const char *text;

  text = json_object_to_json_string_ext(
      obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  if (text == NULL)
    return MSOAUTH_ERR_NOMEM;
  return msoauth_base64_encode(out, text, strlen(text), 1);
}

/* Appends the base64url header and claims, joined by a dot, to out. */
static msoauth_rc add_signing_input(const struct msoauth_signer *signer,
                                    const char *client_id, const char *audience,
                                    long long now, struct msoauth_buf *out) {
  struct json_object *header = json_object_new_object();
  struct json_object *claims = json_object_new_object();
  char jti[37];
  msoauth_rc rc = MSOAUTH_ERR_NOMEM;

  if (header == NULL || claims == NULL || random_uuid(jti) != 0)
    goto out;
  if (add(header, "alg",
          json_object_new_string(signer->pss ? "PS256" : "RS256")) ||
      add(header, "typ", json_object_new_string("JWT")) ||
      add(header, "x5t#S256", json_object_new_string(signer->x5t_s256)) ||
      add(claims, "aud", json_object_new_string(audience)) ||
      add(claims, "iss", json_object_new_string(client_id)) ||
      add(claims, "sub", json_object_new_string(client_id)) ||
      add(claims, "jti", json_object_new_string(jti)) ||
      add(claims, "iat", json_object_new_int64(now)) ||
      add(claims, "nbf", json_object_new_int64(now)) ||
      add(claims, "exp",
          json_object_new_int64(now + MSOAUTH_ASSERTION_LIFETIME)))
    goto out;
  rc = add_json_part(out, header);
  if (!rc)
    rc = msoauth_buf_add(out, ".", 1);
  if (!rc)
    rc = add_json_part(out, claims);
out:
  json_object_put(header);
  json_object_put(claims);
  return rc;
}

/* Signs len bytes at data with SHA-256; the caller frees *sig_r. */
static msoauth_rc sign(const struct msoauth_signer *signer, const char *data,
                       size_t len, unsigned char **sig_r, size_t *sig_len_r) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  unsigned char *sig = NULL;
  size_t sig_len = 0;
  msoauth_rc rc = MSOAUTH_ERR_CONFIG;

  if (md == NULL) {
    rc = MSOAUTH_ERR_NOMEM;
    goto out;
  }
  if (EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, signer->key) != 1)
    goto out;
  if (signer->pss &&
      (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
    goto out;
  if (EVP_DigestSign(md, NULL, &sig_len, (const unsigned char *)data, len) != 1)
    goto out;
  sig = malloc(sig_len);
  if (sig == NULL) {
    rc = MSOAUTH_ERR_NOMEM;
    goto out;
  }
  if (EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)data, len) != 1)
    goto out;
  *sig_r = sig;
  *sig_len_r = sig_len;
  sig = NULL;
  rc = MSOAUTH_OK;
out:
  ERR_clear_error();
  free(sig);
  EVP_MD_CTX_free(md);
  return rc;
}

msoauth_rc msoauth_signer_assertion(const struct msoauth_signer *signer,
                                    const char *client_id, const char *audience,
                                    long long now,
                                    struct msoauth_secret **jwt_r,
                                    struct msoauth_err *err) {
  struct msoauth_buf jwt;
  unsigned char *sig = NULL;
  size_t sig_len = 0;
  msoauth_rc rc;

  *jwt_r = NULL;
  if (signer == NULL || client_id == NULL || *client_id == '\0' ||
      audience == NULL || *audience == '\0' || now < 0 ||
      now > LLONG_MAX - MSOAUTH_ASSERTION_LIFETIME)
    return msoauth_fail(err, MSOAUTH_ERR_INVALID,
                        "client assertion: missing client_id or audience, "
                        "or a bad time");
  msoauth_buf_init(&jwt, ASSERTION_MAX, 1);
  rc = add_signing_input(signer, client_id, audience, now, &jwt);
  if (rc) {
    rc = msoauth_fail(err, rc, "cannot build the client assertion");
    goto out;
  }
  rc = sign(signer, jwt.data, jwt.len, &sig, &sig_len);
  if (rc) {
    rc = msoauth_fail(err, rc, "cannot sign the client assertion with the key");
    goto out;
  }
  rc = msoauth_buf_add(&jwt, ".", 1);
  if (!rc)
    rc = msoauth_base64_encode(&jwt, sig, sig_len, 1);
  if (!rc)
    rc = msoauth_secret_new(jwt.data, jwt.len, jwt_r);
  if (rc)
    rc = msoauth_fail(err, rc, "cannot build the client assertion");
out:
  free(sig);
  msoauth_buf_free(&jwt);
  return rc;
}
