/*
 * seal.h - sealing cache entries for a shared store: AES-256-GCM under a
 * 32-byte key, a fresh random 12-byte nonce per seal, and the name the
 * entry is stored under as associated data (an entry copied under another
 * name does not open).
 *
 * A sealed value is: one version byte (1), the nonce, the ciphertext, the
 * 16-byte tag. Binary; Redis keeps any bytes.
 */
#ifndef MSOAUTH_SEAL_H
#define MSOAUTH_SEAL_H

#include <stddef.h>

#include "result.h"
#include "secret.h"

#define MSOAUTH_SEAL_KEY_LEN 32
/* What sealing adds to the plaintext's length. */
#define MSOAUTH_SEAL_OVERHEAD (1 + 12 + 16)

/* The key written as 64 hexadecimal digits (openssl rand -hex 32) into
 * key; MSOAUTH_ERR_CONFIG otherwise (the message never repeats it). */
msoauth_rc msoauth_seal_key_parse(const struct msoauth_secret *hex,
                                  unsigned char key[MSOAUTH_SEAL_KEY_LEN],
                                  struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Seals len bytes of plain under key with aad; the caller frees *sealed_r
 * (len + MSOAUTH_SEAL_OVERHEAD bytes). */
msoauth_rc msoauth_seal(const unsigned char key[MSOAUTH_SEAL_KEY_LEN],
                        const char *aad, const void *plain, size_t len,
                        unsigned char **sealed_r, size_t *sealed_len_r,
                        struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Opens a sealed value: MSOAUTH_ERR_PROTOCOL when it is not one, or was
 * sealed under another key or another aad, or changed since. *plain_r is
 * NUL-terminated; the caller wipes and frees it (msoauth_free_wiped). */
msoauth_rc msoauth_seal_open(const unsigned char key[MSOAUTH_SEAL_KEY_LEN],
                             const char *aad, const void *sealed, size_t len,
                             char **plain_r, size_t *plain_len_r,
                             struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Names: the hex HMAC-SHA256 of text under key into hex[65] (an entry's
 * name that names no identity), and a key for another purpose derived
 * from key by label. MSOAUTH_ERR_IO only if OpenSSL fails. */
msoauth_rc msoauth_seal_name(const unsigned char key[MSOAUTH_SEAL_KEY_LEN],
                             const char *text, char hex[65])
    __attribute__((warn_unused_result));
msoauth_rc msoauth_seal_derive(const unsigned char key[MSOAUTH_SEAL_KEY_LEN],
                               const char *label,
                               unsigned char out[MSOAUTH_SEAL_KEY_LEN])
    __attribute__((warn_unused_result));

/* Writes n bytes as 2n lowercase hex digits and a NUL into out. */
void msoauth_seal_hex(const unsigned char *b, size_t n, char *out);

#endif
