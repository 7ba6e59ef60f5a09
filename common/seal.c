/*
 * seal.c - AES-256-GCM sealing of cache entries (OpenSSL EVP); see seal.h.
 */
#include "config_build.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "seal.h"

#define SEAL_VERSION 1
#define NONCE_LEN 12
#define TAG_LEN 16

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

msoauth_rc msoauth_seal_key_parse(const struct msoauth_secret *hex,
                                  unsigned char key[MSOAUTH_SEAL_KEY_LEN],
                                  struct msoauth_err *err) {
  const char *s = hex != NULL ? msoauth_secret_value(hex) : NULL;

  if (s == NULL || msoauth_secret_len(hex) != 2 * MSOAUTH_SEAL_KEY_LEN)
    goto bad;
  for (size_t i = 0; i < MSOAUTH_SEAL_KEY_LEN; i++) {
    int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

    if (hi < 0 || lo < 0)
      goto bad;
    key[i] = (unsigned char)(hi << 4 | lo);
  }
  return MSOAUTH_OK;
bad:
  msoauth_wipe(key, MSOAUTH_SEAL_KEY_LEN);
  return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                      "not 64 hexadecimal characters (make one with: "
                      "openssl rand -hex 32)");
}

msoauth_rc msoauth_seal(const unsigned char key[MSOAUTH_SEAL_KEY_LEN],
                        const char *aad, const void *plain, size_t len,
                        unsigned char **sealed_r, size_t *sealed_len_r,
                        struct msoauth_err *err) {
  EVP_CIPHER_CTX *ctx = NULL;
  unsigned char *out = NULL, *nonce, *ct;
  int n = 0, fin = 0;
  msoauth_rc rc = MSOAUTH_OK;

  *sealed_r = NULL;
  *sealed_len_r = 0;
  if (len > (size_t)INT_MAX - MSOAUTH_SEAL_OVERHEAD)
    return msoauth_fail(err, MSOAUTH_ERR_INVALID, "too long to seal");
  out = malloc(len + MSOAUTH_SEAL_OVERHEAD);
  ctx = EVP_CIPHER_CTX_new();
  if (out == NULL || ctx == NULL) {
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    goto out;
  }
  out[0] = SEAL_VERSION;
  nonce = out + 1;
  ct = nonce + NONCE_LEN;
  /* A nonce must never repeat under one key: 96 random bits each time. */
  if (RAND_bytes(nonce, NONCE_LEN) != 1 ||
      EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
      EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
                        (int)strlen(aad)) != 1 ||
      EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) != 1 ||
      EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1 || (size_t)(n + fin) != len ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, ct + len) != 1) {
    rc = msoauth_fail(err, MSOAUTH_ERR_IO, "AES-256-GCM sealing failed");
    goto out;
  }
  *sealed_r = out;
  *sealed_len_r = len + MSOAUTH_SEAL_OVERHEAD;
  out = NULL;
out:
  EVP_CIPHER_CTX_free(ctx);
  free(out);
  return rc;
}

msoauth_rc msoauth_seal_open(const unsigned char key[MSOAUTH_SEAL_KEY_LEN],
                             const char *aad, const void *sealed, size_t len,
                             char **plain_r, size_t *plain_len_r,
                             struct msoauth_err *err) {
  const unsigned char *in = sealed, *nonce, *ct;
  EVP_CIPHER_CTX *ctx = NULL;
  unsigned char tag[TAG_LEN];
  char *plain = NULL;
  size_t ct_len;
  int n = 0, fin = 0;
  msoauth_rc rc = MSOAUTH_OK;

  *plain_r = NULL;
  *plain_len_r = 0;
  if (len < MSOAUTH_SEAL_OVERHEAD || len > (size_t)INT_MAX ||
      in[0] != SEAL_VERSION)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "not a sealed entry");
  nonce = in + 1;
  ct = nonce + NONCE_LEN;
  ct_len = len - MSOAUTH_SEAL_OVERHEAD;
  memcpy(tag, ct + ct_len, TAG_LEN);
  plain = malloc(ct_len + 1);
  ctx = EVP_CIPHER_CTX_new();
  if (plain == NULL || ctx == NULL) {
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    goto out;
  }
  if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
      EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
                        (int)strlen(aad)) != 1 ||
      EVP_DecryptUpdate(ctx, (unsigned char *)plain, &n, ct, (int)ct_len) !=
          1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1 ||
      EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + n, &fin) != 1) {
    rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                      "the entry does not open: another key, another name, "
                      "or changed");
    goto out;
  }
  plain[ct_len] = '\0';
  *plain_r = plain;
  *plain_len_r = ct_len;
  plain = NULL;
out:
  EVP_CIPHER_CTX_free(ctx);
  if (plain != NULL) {
    msoauth_wipe(plain, ct_len + 1);
    free(plain);
  }
  return rc;
}

void msoauth_seal_hex(const unsigned char *b, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";

  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[b[i] >> 4];
    out[2 * i + 1] = digits[b[i] & 0xf];
  }
  out[2 * n] = '\0';
}

msoauth_rc msoauth_seal_derive(const unsigned char key[MSOAUTH_SEAL_KEY_LEN],
                               const char *label,
                               unsigned char out[MSOAUTH_SEAL_KEY_LEN]) {
  unsigned int len = 0;

  if (HMAC(EVP_sha256(), key, MSOAUTH_SEAL_KEY_LEN,
           (const unsigned char *)label, strlen(label), out, &len) == NULL ||
      len != MSOAUTH_SEAL_KEY_LEN)
    return MSOAUTH_ERR_IO;
  return MSOAUTH_OK;
}

msoauth_rc msoauth_seal_name(const unsigned char key[MSOAUTH_SEAL_KEY_LEN],
                             const char *text, char hex[65]) {
  unsigned char md[MSOAUTH_SEAL_KEY_LEN];

  if (msoauth_seal_derive(key, text, md) != MSOAUTH_OK)
    return MSOAUTH_ERR_IO;
  msoauth_seal_hex(md, sizeof(md), hex);
  return MSOAUTH_OK;
}
