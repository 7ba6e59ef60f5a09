/*
 * cache_probe.c - the probe of a shared cache (msoauth check): a probe
 * entry sealed with the key, stored for a minute under a random name,
 * read back and opened, then removed. It proves the connection, the
 * password, the rights of the ACL user and the key, and stores no token.
 */
#include "config_build.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cache_int.h"

#define PROBE_PREFIX "msoauth:probe:"

msoauth_rc cache_probe_entry(const unsigned char key[MSOAUTH_SEAL_KEY_LEN],
                             struct msoauth_redis *c, struct msoauth_err *err) {
  unsigned char rnd[16], *sealed = NULL;
  char name[64], *plain = NULL;
  const char *argv[5] = {"SET", name, NULL, "PX", "60000"};
  size_t lens[5] = {3, 0, 0, 2, 5}, len = 0;
  redisReply *reply = NULL;
  msoauth_rc r;

  if (RAND_bytes(rnd, sizeof(rnd)) != 1)
    return msoauth_fail(err, MSOAUTH_ERR_IO, "no random bytes");
  memcpy(name, PROBE_PREFIX, strlen(PROBE_PREFIX));
  msoauth_seal_hex(rnd, sizeof(rnd), name + strlen(PROBE_PREFIX));
  lens[1] = strlen(name);
  r = msoauth_seal(key, name, "probe", 5, &sealed, &len, err);
  if (r)
    return r;
  argv[2] = (const char *)sealed;
  lens[2] = len;
  r = msoauth_redis_command(c, 5, argv, lens, &reply, err);
  free(sealed);
  freeReplyObject(reply);
  reply = NULL;
  argv[0] = "GET";
  lens[0] = 3;
  if (!r)
    r = msoauth_redis_command(c, 2, argv, lens, &reply, err);
  if (!r && reply->type != REDIS_REPLY_STRING)
    r = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "the probe entry was lost");
  if (!r)
    r = msoauth_seal_open(key, name, reply->str, reply->len, &plain, &len, err);
  if (!r && strcmp(plain, "probe") != 0)
    r = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "the probe entry changed");
  msoauth_free_wiped(&plain);
  freeReplyObject(reply);
  reply = NULL;
  argv[0] = "DEL";
  if (msoauth_redis_ok(c) &&
      msoauth_redis_command(c, 2, argv, lens, &reply, NULL) == MSOAUTH_OK)
    freeReplyObject(reply);
  return r;
}
