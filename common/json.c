/*
 * json.c - type-checked reading of json-c objects.
 */
#include "config_build.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Deeper nesting than any answer of the identity platform. */
#define JSON_DEPTH_MAX 16

struct json_object *msoauth_json_parse(const char *text, size_t len) {
  struct json_tokener *tok;
  struct json_object *obj;

  if (len == 0 || len > INT_MAX)
    return NULL;
  tok = json_tokener_new_ex(JSON_DEPTH_MAX);
  if (tok == NULL)
    return NULL;
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
  obj = json_tokener_parse_ex(tok, text, (int)len);
  if (json_tokener_get_error(tok) != json_tokener_success ||
      json_tokener_get_parse_end(tok) != len) {
    json_object_put(obj);
    obj = NULL;
  }
  json_tokener_free(tok);
  return obj;
}

const char *msoauth_json_string(struct json_object *obj, const char *key,
                                int *bad) {
  struct json_object *val;

  if (!json_object_is_type(obj, json_type_object) ||
      !json_object_object_get_ex(obj, key, &val) || val == NULL)
    return NULL;
  if (!json_object_is_type(val, json_type_string)) {
    *bad = 1;
    return NULL;
  }
  return json_object_get_string(val);
}

/* Parses a string of decimal digits with an optional '-'. */
static msoauth_rc parse_decimal(const char *s, long long *value_r) {
  char *end;
  long long v;

  if (*s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
    return MSOAUTH_ERR_PROTOCOL;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return MSOAUTH_ERR_PROTOCOL;
  *value_r = v;
  return MSOAUTH_OK;
}

msoauth_rc msoauth_json_int(struct json_object *obj, const char *key,
                            long long *value_r) {
  struct json_object *val;

  if (!json_object_is_type(obj, json_type_object) ||
      !json_object_object_get_ex(obj, key, &val) || val == NULL)
    return MSOAUTH_ERR_NOT_FOUND;
  if (json_object_is_type(val, json_type_string))
    return parse_decimal(json_object_get_string(val), value_r);
  if (!json_object_is_type(val, json_type_int))
    return MSOAUTH_ERR_PROTOCOL;
  /* json-c clamps numbers out of range to the int64 limits, which no
   * answer of ours legitimately holds. */
  *value_r = json_object_get_int64(val);
  if (*value_r == INT64_MAX || *value_r == INT64_MIN)
    return MSOAUTH_ERR_PROTOCOL;
  return MSOAUTH_OK;
}

void msoauth_json_wipe_string(struct json_object *obj, const char *key) {
  struct json_object *val;

  if (json_object_is_type(obj, json_type_object) &&
      json_object_object_get_ex(obj, key, &val) &&
      json_object_is_type(val, json_type_string))
    msoauth_wipe((void *)(uintptr_t)json_object_get_string(val),
                 (size_t)json_object_get_string_len(val));
}

msoauth_rc msoauth_json_take_secret(struct json_object *obj, const char *key,
                                    struct msoauth_secret **secret_r) {
  struct json_object *val;
  msoauth_rc rc;

  *secret_r = NULL;
  if (!json_object_is_type(obj, json_type_object) ||
      !json_object_object_get_ex(obj, key, &val) || val == NULL)
    return MSOAUTH_OK;
  if (!json_object_is_type(val, json_type_string) ||
      json_object_get_string_len(val) == 0)
    return MSOAUTH_ERR_PROTOCOL;
  rc = msoauth_secret_new(json_object_get_string(val),
                          (size_t)json_object_get_string_len(val), secret_r);
  msoauth_json_wipe_string(obj, key);
  return rc;
}
