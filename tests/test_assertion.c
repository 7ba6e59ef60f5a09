/*
 * test_assertion.c - certificate credentials and client assertions.
 *
 * Keys and certificates are made here with OpenSSL, written to a private
 * temporary directory, loaded, and the assertions checked piece by piece
 * with code independent of the signer's (thumbprint, signature). The last
 * test sends assertions to the Entra ID emulator.
 */
#include "config_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "assertion.h"
#include "base64.h"
#include "buf.h"
#include "emu.h"
#include "entra_error.h"
#include "result.h"
#include "secret.h"

#define CLIENT_ID "33333333-3333-3333-3333-333333333333"
#define AUDIENCE                                                               \
  "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"
#define NOW 1714557600LL

/* What the group setup makes once: key generation is slow under valgrind. */
struct fixture {
  char dir[64];
  EVP_PKEY *rsa; /* 2048-bit RSA, with cert */
  X509 *cert;
  EVP_PKEY *other; /* 2048-bit RSA, not matching cert */
  EVP_PKEY *pss;   /* 2048-bit RSA-PSS, with pss_cert */
  X509 *pss_cert;
  EVP_PKEY *small; /* 1024-bit RSA, with small_cert */
  X509 *small_cert;
  EVP_PKEY *pss512; /* RSA-PSS restricted to SHA-512, with pss512_cert */
  X509 *pss512_cert;
  EVP_PKEY *ec; /* P-256, with ec_cert */
  X509 *ec_cert;
  time_t not_after; /* of cert */
};

static struct fixture fx;

/* ------------------------------------------------------------ helpers */

/* DIR/name, in static storage that the next seven calls leave alone (a
 * call may take two paths made in its arguments). */
static char *path_in_dir(const char *name) {
  static char paths[8][256];
  static unsigned next;
  char *path = paths[next++ % 8];

  snprintf(path, sizeof(paths[0]), "%s/%s", fx.dir, name);
  return path;
}

/* An RSA or RSA-PSS key; an RSA-PSS key restricted to md when md is set. */
static EVP_PKEY *gen_key(const char *type, unsigned bits, const EVP_MD *md) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
  EVP_PKEY *key = NULL;

  if (ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1 &&
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) == 1 &&
      (md == NULL || EVP_PKEY_CTX_set_rsa_pss_keygen_md(ctx, md) == 1))
    EVP_PKEY_keygen(ctx, &key);
  EVP_PKEY_CTX_free(ctx);
  return key;
}

/* A self-signed certificate for key, valid until not_after. */
static X509 *make_cert_md(EVP_PKEY *key, const char *cn, time_t not_after,
                          const EVP_MD *md) {
  X509 *x = X509_new();
  X509_NAME *name;

  if (x == NULL)
    return NULL;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  ASN1_TIME_set(X509_getm_notAfter(x), not_after);
  name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, key);
  if (X509_sign(x, key, md) <= 0) {
    X509_free(x);
    return NULL;
  }
  return x;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, time_t not_after) {
  return make_cert_md(key, cn, not_after, EVP_sha256());
}

static FILE *create_file(const char *name, int mode) {
  const char *path = path_in_dir(name);
  int fd;

  unlink(path);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return NULL;
  /* fchmod: the mode exactly, whatever the umask. */
  if (fchmod(fd, (mode_t)mode) != 0) {
    close(fd);
    return NULL;
  }
  return fdopen(fd, "w");
}

enum key_format { PKCS8, TRADITIONAL, ENCRYPTED };

/* Writes key to DIR/name with mode; returns the path (static storage). */
static const char *write_key(const char *name, EVP_PKEY *key, int mode,
                             enum key_format format) {
  FILE *f = create_file(name, mode);
  BIO *bio;
  int ok;

  assert_non_null(f);
  bio = BIO_new_fp(f, BIO_NOCLOSE);
  assert_non_null(bio);
  if (format == TRADITIONAL)
    ok = PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL,
                                              NULL);
  else if (format == ENCRYPTED)
    ok = PEM_write_bio_PrivateKey(bio, key, EVP_aes_256_cbc(),
                                  (const unsigned char *)"passphrase", 10, NULL,
                                  NULL);
  else
    ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
  BIO_free(bio);
  assert_int_equal(ok, 1);
  assert_int_equal(fclose(f), 0);
  return path_in_dir(name);
}

/* Writes one or two certificates to DIR/name with mode. */
static const char *write_certs_mode(const char *name, X509 *first, X509 *second,
                                    int mode) {
  FILE *f = create_file(name, mode);

  assert_non_null(f);
  assert_int_equal(PEM_write_X509(f, first), 1);
  if (second != NULL)
    assert_int_equal(PEM_write_X509(f, second), 1);
  assert_int_equal(fclose(f), 0);
  return path_in_dir(name);
}

/* Same, mode 0644: a certificate is public. */
static const char *write_certs(const char *name, X509 *first, X509 *second) {
  return write_certs_mode(name, first, second, 0644);
}

static const char *write_text(const char *name, const char *text, int mode) {
  FILE *f = create_file(name, mode);

  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
  return path_in_dir(name);
}

/* Loads a signer from a certificate and a key file. */
static msoauth_rc load(const char *cert_path, const char *key_path,
                       struct msoauth_signer **signer,
                       struct msoauth_err *err) {
  return msoauth_signer_load(cert_path, key_path, signer, err);
}

/* base64url without padding, by way of OpenSSL's standard base64. */
static void b64url_independent(const unsigned char *p, size_t len, char *out,
                               size_t size) {
  int n;

  assert_true(size > 4 * ((len + 2) / 3));
  n = EVP_EncodeBlock((unsigned char *)out, p, (int)len);
  assert_true(n > 0);
  while (n > 0 && out[n - 1] == '=')
    out[--n] = '\0';
  for (int i = 0; i < n; i++) {
    if (out[i] == '+')
      out[i] = '-';
    else if (out[i] == '/')
      out[i] = '_';
  }
}

static void expected_x5t(X509 *cert, char *out, size_t size) {
  unsigned char *der = NULL;
  unsigned char md[32];
  unsigned int mdlen = 0;
  int len = i2d_X509(cert, &der);

  assert_true(len > 0);
  assert_int_equal(EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL),
                   1);
  assert_int_equal(mdlen, 32);
  OPENSSL_free(der);
  b64url_independent(md, mdlen, out, size);
}

/* A compact JWS, split and decoded. */
struct parts {
  struct json_object *header;
  struct json_object *claims;
  char *signing_input; /* HEADER.CLAIMS */
  unsigned char *sig;
  size_t sig_len;
};

static struct json_object *decode_json(const char *s, size_t len) {
  struct msoauth_buf buf;
  struct json_object *obj;

  msoauth_buf_init(&buf, 65536, 0);
  assert_int_equal(msoauth_base64_decode(&buf, s, len, 1), MSOAUTH_OK);
  obj = json_tokener_parse(msoauth_buf_str(&buf));
  msoauth_buf_free(&buf);
  assert_non_null(obj);
  assert_true(json_object_is_type(obj, json_type_object));
  return obj;
}

static void split_jws(const char *jws, struct parts *p) {
  const char *d1 = strchr(jws, '.');
  const char *d2;
  struct msoauth_buf buf;

  memset(p, 0, sizeof(*p));
  assert_non_null(d1);
  d2 = strchr(d1 + 1, '.');
  assert_non_null(d2);
  assert_null(strchr(d2 + 1, '.'));
  assert_true(d1 > jws && d2 > d1 + 1 && d2[1] != '\0');
  assert_null(strchr(jws, '='));
  p->header = decode_json(jws, (size_t)(d1 - jws));
  p->claims = decode_json(d1 + 1, (size_t)(d2 - d1 - 1));
  p->signing_input = strndup(jws, (size_t)(d2 - jws));
  assert_non_null(p->signing_input);
  msoauth_buf_init(&buf, 65536, 0);
  assert_int_equal(msoauth_base64_decode(&buf, d2 + 1, strlen(d2 + 1), 1),
                   MSOAUTH_OK);
  p->sig_len = buf.len;
  p->sig = (unsigned char *)msoauth_buf_take(&buf);
}

static void parts_free(struct parts *p) {
  json_object_put(p->header);
  json_object_put(p->claims);
  free(p->signing_input);
  free(p->sig);
  memset(p, 0, sizeof(*p));
}

static const char *str_member(struct json_object *obj, const char *key) {
  struct json_object *val;

  assert_true(json_object_object_get_ex(obj, key, &val));
  assert_true(json_object_is_type(val, json_type_string));
  return json_object_get_string(val);
}

static int64_t int_member(struct json_object *obj, const char *key) {
  struct json_object *val;

  assert_true(json_object_object_get_ex(obj, key, &val));
  assert_true(json_object_is_type(val, json_type_int));
  return json_object_get_int64(val);
}

/* Whether the signature verifies with cert's public key. */
static int verify(const struct parts *p, X509 *cert, int pss) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  int ok = 0;

  assert_non_null(md);
  if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL,
                           X509_get0_pubkey(cert)) == 1 &&
      (!pss || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) > 0)))
    ok = EVP_DigestVerify(md, p->sig, p->sig_len,
                          (const unsigned char *)p->signing_input,
                          strlen(p->signing_input)) == 1;
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  return ok;
}

/* A UUID of version 4, RFC 4122 variant, lowercase. */
static void assert_uuid4(const char *s) {
  assert_int_equal(strlen(s), 36);
  for (size_t i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23)
      assert_int_equal(s[i], '-');
    else
      assert_non_null(strchr("0123456789abcdef", s[i]));
  }
  assert_int_equal(s[14], '4');
  assert_non_null(strchr("89ab", s[19]));
}

/* ------------------------------------------------------------ setup */

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int group_setup(void **state) {
  struct tm tm = {0};

  (void)state;
  snprintf(fx.dir, sizeof(fx.dir), "/tmp/msoauth-assertion-XXXXXX");
  if (mkdtemp(fx.dir) == NULL)
    return -1;
  /* 2034-01-02 03:04:05 UTC: a UTCTime. */
  tm.tm_year = 134;
  tm.tm_mon = 0;
  tm.tm_mday = 2;
  tm.tm_hour = 3;
  tm.tm_min = 4;
  tm.tm_sec = 5;
  fx.not_after = timegm(&tm);
  fx.rsa = gen_key("RSA", 2048, NULL);
  fx.other = gen_key("RSA", 2048, NULL);
  fx.pss = gen_key("RSA-PSS", 2048, NULL);
  fx.pss512 = gen_key("RSA-PSS", 2048, EVP_sha512());
  fx.small = gen_key("RSA", 1024, NULL);
  fx.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  if (fx.rsa == NULL || fx.other == NULL || fx.pss == NULL ||
      fx.pss512 == NULL || fx.small == NULL || fx.ec == NULL)
    return -1;
  fx.cert = make_cert(fx.rsa, "msoauth test", fx.not_after);
  /* 2061: past 2049, a GeneralizedTime. */
  fx.pss_cert = make_cert(fx.pss, "msoauth pss", 2871763200);
  fx.pss512_cert =
      make_cert_md(fx.pss512, "msoauth pss512", fx.not_after, EVP_sha512());
  fx.small_cert = make_cert(fx.small, "msoauth small", fx.not_after);
  fx.ec_cert = make_cert(fx.ec, "msoauth ec", fx.not_after);
  if (fx.cert == NULL || fx.pss_cert == NULL || fx.pss512_cert == NULL ||
      fx.small_cert == NULL || fx.ec_cert == NULL)
    return -1;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  EVP_PKEY_free(fx.rsa);
  EVP_PKEY_free(fx.other);
  EVP_PKEY_free(fx.pss);
  EVP_PKEY_free(fx.pss512);
  EVP_PKEY_free(fx.small);
  EVP_PKEY_free(fx.ec);
  X509_free(fx.cert);
  X509_free(fx.pss_cert);
  X509_free(fx.pss512_cert);
  X509_free(fx.small_cert);
  X509_free(fx.ec_cert);
  if (fx.dir[0] != '\0')
    nftw(fx.dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  return 0;
}

/* ------------------------------------------------------------ tests */

/* A good key and certificate make an RS256 assertion that Entra ID's
 * rules accept: every header field and claim, and the signature. */
static void test_rs256_assertion(void **state) {
  struct msoauth_signer *signer = NULL;
  struct msoauth_secret *jwt = NULL;
  struct msoauth_err err;
  struct parts p;
  char x5t[64];

  (void)state;
  assert_int_equal(load(write_certs("good.crt", fx.cert, NULL),
                        write_key("good.key", fx.rsa, 0600, PKCS8), &signer,
                        &err),
                   MSOAUTH_OK);
  assert_non_null(signer);
  assert_int_equal(msoauth_signer_not_after(signer), (long long)fx.not_after);
  assert_int_equal(
      msoauth_signer_assertion(signer, CLIENT_ID, AUDIENCE, NOW, &jwt, &err),
      MSOAUTH_OK);
  assert_non_null(jwt);
  assert_int_equal(strlen(msoauth_secret_value(jwt)), msoauth_secret_len(jwt));

  split_jws(msoauth_secret_value(jwt), &p);
  assert_string_equal(str_member(p.header, "alg"), "RS256");
  assert_string_equal(str_member(p.header, "typ"), "JWT");
  expected_x5t(fx.cert, x5t, sizeof(x5t));
  assert_int_equal(strlen(x5t), 43);
  assert_string_equal(str_member(p.header, "x5t#S256"), x5t);
  assert_int_equal(json_object_object_length(p.header), 3);

  assert_string_equal(str_member(p.claims, "aud"), AUDIENCE);
  assert_string_equal(str_member(p.claims, "iss"), CLIENT_ID);
  assert_string_equal(str_member(p.claims, "sub"), CLIENT_ID);
  assert_uuid4(str_member(p.claims, "jti"));
  assert_int_equal(int_member(p.claims, "iat"), NOW);
  assert_int_equal(int_member(p.claims, "nbf"), NOW);
  assert_int_equal(int_member(p.claims, "exp"),
                   NOW + MSOAUTH_ASSERTION_LIFETIME);
  assert_int_equal(MSOAUTH_ASSERTION_LIFETIME, 300);

  assert_int_equal(p.sig_len, 256);
  assert_true(verify(&p, fx.cert, 0));
  /* A tampered claim no longer verifies. */
  p.signing_input[strlen(p.signing_input) - 2] ^= 1;
  assert_false(verify(&p, fx.cert, 0));

  parts_free(&p);
  msoauth_secret_free(&jwt);
  assert_null(jwt);
  msoauth_signer_free(&signer);
  assert_null(signer);
  msoauth_signer_free(&signer);
}

/* The audience is written without escaped slashes, as URLs are compared. */
static void test_plain_json(void **state) {
  struct msoauth_signer *signer = NULL;
  struct msoauth_secret *jwt = NULL;
  struct msoauth_buf buf;
  const char *s, *d1;

  (void)state;
  assert_int_equal(load(write_certs("plain.crt", fx.cert, NULL),
                        write_key("plain.key", fx.rsa, 0600, PKCS8), &signer,
                        NULL),
                   MSOAUTH_OK);
  assert_int_equal(
      msoauth_signer_assertion(signer, CLIENT_ID, AUDIENCE, NOW, &jwt, NULL),
      MSOAUTH_OK);
  s = msoauth_secret_value(jwt);
  d1 = strchr(s, '.');
  assert_non_null(d1);
  msoauth_buf_init(&buf, 65536, 0);
  assert_int_equal(msoauth_base64_decode(
                       &buf, d1 + 1, (size_t)(strchr(d1 + 1, '.') - d1 - 1), 1),
                   MSOAUTH_OK);
  assert_non_null(strstr(msoauth_buf_str(&buf), "\"aud\":\"" AUDIENCE "\""));
  assert_null(strchr(msoauth_buf_str(&buf), ' '));
  assert_null(strstr(msoauth_buf_str(&buf), "\\/"));
  msoauth_buf_free(&buf);
  msoauth_secret_free(&jwt);
  msoauth_signer_free(&signer);
}

/* Each assertion has its own jti and signature; the rest is the same. */
static void test_fresh_jti(void **state) {
  struct msoauth_signer *signer = NULL;
  struct msoauth_secret *a = NULL, *b = NULL;
  struct parts pa, pb;

  (void)state;
  assert_int_equal(load(write_certs("jti.crt", fx.cert, NULL),
                        write_key("jti.key", fx.rsa, 0600, PKCS8), &signer,
                        NULL),
                   MSOAUTH_OK);
  assert_int_equal(
      msoauth_signer_assertion(signer, CLIENT_ID, AUDIENCE, NOW, &a, NULL),
      MSOAUTH_OK);
  assert_int_equal(
      msoauth_signer_assertion(signer, CLIENT_ID, AUDIENCE, NOW, &b, NULL),
      MSOAUTH_OK);
  split_jws(msoauth_secret_value(a), &pa);
  split_jws(msoauth_secret_value(b), &pb);
  assert_string_not_equal(str_member(pa.claims, "jti"),
                          str_member(pb.claims, "jti"));
  assert_string_equal(str_member(pa.header, "x5t#S256"),
                      str_member(pb.header, "x5t#S256"));
  assert_string_not_equal(msoauth_secret_value(a), msoauth_secret_value(b));
  assert_true(verify(&pa, fx.cert, 0));
  assert_true(verify(&pb, fx.cert, 0));
  parts_free(&pa);
  parts_free(&pb);
  msoauth_secret_free(&a);
  msoauth_secret_free(&b);
  msoauth_signer_free(&signer);
}

/* An RSA-PSS key signs PS256, with a salt of the digest's length. */
static void test_pss(void **state) {
  struct msoauth_signer *signer = NULL;
  struct msoauth_secret *jwt = NULL;
  struct msoauth_err err;
  struct parts p;
  char x5t[64];

  (void)state;
  assert_int_equal(load(write_certs("pss.crt", fx.pss_cert, NULL),
                        write_key("pss.key", fx.pss, 0600, PKCS8), &signer,
                        &err),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_signer_not_after(signer), 2871763200LL);
  assert_int_equal(
      msoauth_signer_assertion(signer, CLIENT_ID, AUDIENCE, NOW, &jwt, &err),
      MSOAUTH_OK);
  split_jws(msoauth_secret_value(jwt), &p);
  assert_string_equal(str_member(p.header, "alg"), "PS256");
  expected_x5t(fx.pss_cert, x5t, sizeof(x5t));
  assert_string_equal(str_member(p.header, "x5t#S256"), x5t);
  assert_true(verify(&p, fx.pss_cert, 1));
  parts_free(&p);
  msoauth_secret_free(&jwt);
  msoauth_signer_free(&signer);
}

/* Forms a good key may take: traditional PEM, and a certificate file
 * holding a chain (the first certificate counts). */
static void test_accepted_forms(void **state) {
  struct msoauth_signer *signer = NULL;
  struct msoauth_err err;

  (void)state;
  assert_int_equal(load(write_certs("trad.crt", fx.cert, NULL),
                        write_key("trad.key", fx.rsa, 0600, TRADITIONAL),
                        &signer, &err),
                   MSOAUTH_OK);
  msoauth_signer_free(&signer);
  assert_int_equal(load(write_certs("chain.crt", fx.cert, fx.pss_cert),
                        write_key("chain.key", fx.rsa, 0400, PKCS8), &signer,
                        &err),
                   MSOAUTH_OK);
  msoauth_signer_free(&signer);
  /* The key of the second certificate of a chain is not the one wanted. */
  assert_int_equal(load(write_certs("chain2.crt", fx.cert, fx.pss_cert),
                        write_key("chain2.key", fx.pss, 0600, PKCS8), &signer,
                        &err),
                   MSOAUTH_ERR_CONFIG);
  assert_null(signer);
}

/* Loads that must fail, with the result and a word of the detail. */
static void expect_refused(const char *cert, const char *key, msoauth_rc rc,
                           const char *word) {
  struct msoauth_signer *signer = (struct msoauth_signer *)&fx;
  struct msoauth_err err;

  print_message("# %s / %s\n", cert, key);
  memset(&err, 0, sizeof(err));
  assert_int_equal(load(cert, key, &signer, &err), rc);
  assert_null(signer);
  assert_int_equal(err.rc, rc);
  if (strstr(err.detail, word) == NULL)
    fail_msg("detail \"%s\" lacks \"%s\"", err.detail, word);
}

static void test_key_file_rules(void **state) {
  char cert[256], key[256];

  (void)state;
  snprintf(cert, sizeof(cert), "%s", write_certs("r.crt", fx.cert, NULL));
  expect_refused(cert, write_key("r644.key", fx.rsa, 0644, PKCS8),
                 MSOAUTH_ERR_CONFIG, "group or others");
  expect_refused(cert, write_key("r640.key", fx.rsa, 0640, PKCS8),
                 MSOAUTH_ERR_CONFIG, "group or others");
  expect_refused(cert, write_key("r604.key", fx.rsa, 0604, PKCS8),
                 MSOAUTH_ERR_CONFIG, "group or others");
  expect_refused(cert, path_in_dir("missing.key"), MSOAUTH_ERR_IO,
                 "missing.key");
  /* A symbolic link to a good key is refused (O_NOFOLLOW). */
  snprintf(key, sizeof(key), "%s", write_key("r.key", fx.rsa, 0600, PKCS8));
  assert_int_equal(symlink(key, path_in_dir("link.key")), 0);
  expect_refused(cert, path_in_dir("link.key"), MSOAUTH_ERR_CONFIG,
                 "symbolic link");
  /* A directory is no key. */
  expect_refused(cert, fx.dir, MSOAUTH_ERR_CONFIG, "regular");
}

static void test_refused_keys(void **state) {
  char cert[256];

  (void)state;
  snprintf(cert, sizeof(cert), "%s", write_certs("k.crt", fx.cert, NULL));
  expect_refused(cert, write_key("other.key", fx.other, 0600, PKCS8),
                 MSOAUTH_ERR_CONFIG, "does not belong to the certificate");
  expect_refused(write_certs("small.crt", fx.small_cert, NULL),
                 write_key("small.key", fx.small, 0600, PKCS8),
                 MSOAUTH_ERR_CONFIG, "2048");
  /* An RSA-PSS key that may only sign with SHA-512: refused when loaded. */
  expect_refused(write_certs("pss512.crt", fx.pss512_cert, NULL),
                 write_key("pss512.key", fx.pss512, 0600, PKCS8),
                 MSOAUTH_ERR_CONFIG, "cannot sign with PS256");
  expect_refused(write_certs("ec.crt", fx.ec_cert, NULL),
                 write_key("ec.key", fx.ec, 0600, PKCS8), MSOAUTH_ERR_CONFIG,
                 "not an RSA key");
  expect_refused(cert,
                 write_text("garbage.key",
                            "-----BEGIN PRIVATE KEY-----"
                            "\nbm90IGEga2V5\n-----END "
                            "PRIVATE KEY-----\n",
                            0600),
                 MSOAUTH_ERR_CONFIG, "private key");
  expect_refused(cert, write_text("text.key", "hello\n", 0600),
                 MSOAUTH_ERR_CONFIG, "private key");
  /* An encrypted key is refused without prompting for a passphrase. */
  expect_refused(cert, write_key("enc.key", fx.rsa, 0600, ENCRYPTED),
                 MSOAUTH_ERR_CONFIG, "unencrypted");
  /* The certificate where the key should be. */
  expect_refused(cert, write_certs_mode("cert-as-key.pem", fx.cert, NULL, 0600),
                 MSOAUTH_ERR_CONFIG, "private key");
  expect_refused(cert, write_text("cert-as-key2.pem", "", 0600),
                 MSOAUTH_ERR_CONFIG, "empty");
}

static void test_refused_certs(void **state) {
  char key[256];

  (void)state;
  snprintf(key, sizeof(key), "%s", write_key("c.key", fx.rsa, 0600, PKCS8));
  expect_refused(path_in_dir("missing.crt"), key, MSOAUTH_ERR_IO,
                 "missing.crt");
  expect_refused(write_text("garbage.crt",
                            "-----BEGIN CERTIFICATE-----\n"
                            "Z2FyYmFnZQ==\n-----END "
                            "CERTIFICATE-----\n",
                            0644),
                 key, MSOAUTH_ERR_CONFIG, "no PEM certificate");
  expect_refused(write_text("empty.crt", "", 0644), key, MSOAUTH_ERR_CONFIG,
                 "no PEM certificate");
  expect_refused(key, key, MSOAUTH_ERR_CONFIG, "no PEM certificate");
  expect_refused(fx.dir, key, MSOAUTH_ERR_CONFIG, "regular");
  /* A FIFO is refused at once, not waited on (the alarm fails the test if
   * the open blocks). */
  assert_int_equal(mkfifo(path_in_dir("fifo.crt"), 0644), 0);
  alarm(10);
  expect_refused(path_in_dir("fifo.crt"), key, MSOAUTH_ERR_CONFIG, "regular");
  alarm(0);
  expect_refused(write_certs("wrong.crt", fx.pss_cert, NULL), key,
                 MSOAUTH_ERR_CONFIG, "does not belong");
}

static void test_bad_arguments(void **state) {
  struct msoauth_signer *signer = NULL;
  struct msoauth_secret *jwt = (struct msoauth_secret *)&fx;
  struct msoauth_err err;

  (void)state;
  assert_int_equal(msoauth_signer_load(NULL, NULL, &signer, &err),
                   MSOAUTH_ERR_INVALID);
  assert_int_equal(load(write_certs("args.crt", fx.cert, NULL),
                        write_key("args.key", fx.rsa, 0600, PKCS8), &signer,
                        &err),
                   MSOAUTH_OK);
  assert_int_equal(
      msoauth_signer_assertion(signer, NULL, AUDIENCE, NOW, &jwt, &err),
      MSOAUTH_ERR_INVALID);
  assert_null(jwt);
  assert_int_equal(
      msoauth_signer_assertion(signer, "", AUDIENCE, NOW, &jwt, &err),
      MSOAUTH_ERR_INVALID);
  assert_int_equal(
      msoauth_signer_assertion(signer, CLIENT_ID, "", NOW, &jwt, &err),
      MSOAUTH_ERR_INVALID);
  assert_int_equal(
      msoauth_signer_assertion(signer, CLIENT_ID, AUDIENCE, -1, &jwt, &err),
      MSOAUTH_ERR_INVALID);
  assert_null(jwt);
  msoauth_signer_free(&signer);
  msoauth_signer_free(NULL);
}

/* ------------------------------------------------------------ emulator */

struct reply {
  long status;
  struct msoauth_buf body;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
  struct reply *r = arg;

  return msoauth_buf_add(&r->body, p, size * n) == MSOAUTH_OK ? size * n : 0;
}

static void add_field(struct msoauth_buf *form, CURL *curl, const char *key,
                      const char *value) {
  char *esc = curl_easy_escape(curl, value, 0);

  assert_non_null(esc);
  assert_int_equal(
      msoauth_buf_addf(form, "%s%s=%s", form->len ? "&" : "", key, esc),
      MSOAUTH_OK);
  curl_free(esc);
}

/* POSTs a client-credentials request with assertion to the emulator. */
static void post_assertion(struct emu *emu, const char *assertion,
                           struct reply *r) {
  CURL *curl = curl_easy_init();
  struct msoauth_buf form;
  char url[256];

  assert_non_null(curl);
  msoauth_buf_init(&form, 65536, 1);
  msoauth_buf_init(&r->body, 1024 * 1024, 1);
  add_field(&form, curl, "grant_type", "client_credentials");
  add_field(&form, curl, "client_id", EMU_CERT_CLIENT);
  add_field(&form, curl, "scope", "https://outlook.office365.com/.default");
  add_field(&form, curl, "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  add_field(&form, curl, "client_assertion", assertion);
  snprintf(url, sizeof(url), "%s/contoso.com/oauth2/v2.0/token", emu->url);
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_CAINFO, emu->ca);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, msoauth_buf_str(&form));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
  assert_int_equal(curl_easy_perform(curl), CURLE_OK);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
  curl_easy_cleanup(curl);
  msoauth_buf_free(&form);
}

/* Whether the JSON answer's error_codes holds code. */
static int has_error_code(const struct reply *r, long code) {
  struct json_object *obj = json_tokener_parse(msoauth_buf_str(&r->body));
  struct json_object *codes;
  int found = 0;

  if (json_object_object_get_ex(obj, "error_codes", &codes) &&
      json_object_is_type(codes, json_type_array))
    for (size_t i = 0; i < json_object_array_length(codes); i++)
      if (json_object_get_int64(json_object_array_get_idx(codes, i)) == code)
        found = 1;
  json_object_put(obj);
  return found;
}

/* Signs an assertion for the emulator's certificate app and posts it. */
static void sign_and_post(struct emu *emu, const struct msoauth_signer *signer,
                          const char *audience, struct reply *r) {
  struct msoauth_secret *jwt = NULL;

  assert_int_equal(msoauth_signer_assertion(signer, EMU_CERT_CLIENT, audience,
                                            (long long)time(NULL), &jwt, NULL),
                   MSOAUTH_OK);
  post_assertion(emu, msoauth_secret_value(jwt), r);
  msoauth_secret_free(&jwt);
}

static struct emu the_emu;

/* The emulator is stopped by the teardown, even when the test fails. */
static int emu_setup(void **state) {
  (void)state;
  memset(&the_emu, 0, sizeof(the_emu));
  if (emu_start(&the_emu, NULL) != 0)
    the_emu.pid = 0;
  return 0;
}

static int emu_teardown(void **state) {
  (void)state;
  if (the_emu.pid != 0)
    emu_stop(&the_emu);
  return 0;
}

static void test_emulator(void **state) {
  struct msoauth_signer *signer = NULL;
  struct msoauth_signer *mine = NULL;
  struct msoauth_err err;
  struct reply r;
  char cert[512], key[512], audience[256];
  char *log;

  (void)state;
  /* The emulator ships with the tests: not starting is a failure. */
  if (the_emu.pid == 0)
    fail_msg("the emulator could not be started");
  snprintf(cert, sizeof(cert), "%s/client-%s.crt", the_emu.dir,
           EMU_CERT_CLIENT);
  snprintf(key, sizeof(key), "%s/client-%s.key", the_emu.dir, EMU_CERT_CLIENT);
  snprintf(audience, sizeof(audience), "%s/contoso.com/oauth2/v2.0/token",
           the_emu.url);
  assert_int_equal(msoauth_signer_load(cert, key, &signer, &err), MSOAUTH_OK);
  /* The emulator's certificate is valid for 365 days from now. */
  assert_true(msoauth_signer_not_after(signer) > (long long)time(NULL));

  /* Accepted, twice: each assertion has a fresh jti. */
  for (int i = 0; i < 2; i++) {
    sign_and_post(&the_emu, signer, audience, &r);
    if (r.status != 200)
      fail_msg("status %ld: %s", r.status, msoauth_buf_str(&r.body));
    assert_non_null(strstr(msoauth_buf_str(&r.body), "\"access_token\""));
    msoauth_buf_free(&r.body);
  }
  log = emu_get(&the_emu, "/_emu/requests?last=1");
  assert_non_null(log);
  assert_non_null(strstr(log, "\"x5t#S256\""));
  assert_non_null(strstr(log, "\"RS256\""));
  free(log);

  /* Another token endpoint: refused for its audience. */
  sign_and_post(&the_emu, signer, AUDIENCE, &r);
  assert_int_equal(r.status, 401);
  assert_true(has_error_code(&r, 50027));
  assert_int_equal(
      msoauth_entra_error(r.status, msoauth_buf_str(&r.body), r.body.len, &err),
      MSOAUTH_ERR_CLIENT_CONFIG);
  assert_int_equal(err.aadsts, 50027);
  msoauth_buf_free(&r.body);

  /* Our own certificate is not registered: 700027. */
  assert_int_equal(load(write_certs("mine.crt", fx.cert, NULL),
                        write_key("mine.key", fx.rsa, 0600, PKCS8), &mine,
                        &err),
                   MSOAUTH_OK);
  sign_and_post(&the_emu, mine, audience, &r);
  assert_int_equal(r.status, 401);
  assert_true(has_error_code(&r, 700027));
  assert_int_equal(
      msoauth_entra_error(r.status, msoauth_buf_str(&r.body), r.body.len, &err),
      MSOAUTH_ERR_CLIENT_CONFIG);
  assert_int_equal(err.aadsts, 700027);
  assert_string_equal(err.detail, "AADSTS700027: The certificate was not "
                                  "accepted: upload this certificate to the "
                                  "app registration.");
  msoauth_buf_free(&r.body);

  msoauth_signer_free(&mine);
  msoauth_signer_free(&signer);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rs256_assertion),
      cmocka_unit_test(test_plain_json),
      cmocka_unit_test(test_fresh_jti),
      cmocka_unit_test(test_pss),
      cmocka_unit_test(test_accepted_forms),
      cmocka_unit_test(test_key_file_rules),
      cmocka_unit_test(test_refused_keys),
      cmocka_unit_test(test_refused_certs),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test_setup_teardown(test_emulator, emu_setup, emu_teardown),
  };

  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
