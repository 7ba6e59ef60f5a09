/*
 * json.h - type-checked reading of json-c objects.
 */
#ifndef MSOAUTH_JSON_H
#define MSOAUTH_JSON_H

#include <stddef.h>

#include <json-c/json.h>

#include "result.h"
#include "secret.h"

/* Parses exactly len bytes as one JSON value (nesting capped); NULL when the
 * text is not valid JSON, is empty or has trailing garbage. The caller puts
 * the result with json_object_put. */
struct json_object *msoauth_json_parse(const char *text, size_t len);

/* The string member key of obj: NULL when absent; *bad set to 1 when present
 * with another type. */
const char *msoauth_json_string(struct json_object *obj, const char *key,
                                int *bad);

/* The integer member key (a JSON integer, or a string of digits as some
 * answers carry): MSOAUTH_OK, MSOAUTH_ERR_NOT_FOUND, or MSOAUTH_ERR_PROTOCOL
 * for another type or an out-of-range value. */
msoauth_rc msoauth_json_int(struct json_object *obj, const char *key,
                            long long *value_r);

/* Wipes, in place, json-c's copy of the string member key of obj (a token
 * read from an answer), before the object is put. */
void msoauth_json_wipe_string(struct json_object *obj, const char *key);

/* Copies the string member key of obj into a new secret (*secret_r, owned
 * by the caller; NULL when absent) and wipes json-c's copy. A member of
 * another type, or an empty string, is MSOAUTH_ERR_PROTOCOL. */
msoauth_rc msoauth_json_take_secret(struct json_object *obj, const char *key,
                                    struct msoauth_secret **secret_r)
    __attribute__((warn_unused_result));

#endif
