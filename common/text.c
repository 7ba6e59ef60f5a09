/*
 * text.c - text from elsewhere made safe for a log line or a terminal.
 */
#include "config_build.h"

#include <stdio.h>
#include <string.h>

#include "text.h"

size_t msoauth_utf8_seq(const unsigned char *s, size_t n, unsigned long *cp_r) {
  unsigned long cp, min;
  size_t need;

  if (s[0] < 0x80) {
    *cp_r = s[0];
    return 1;
  }
  if (s[0] >= 0xc2 && s[0] <= 0xdf) {
    need = 2;
    cp = s[0] & 0x1f;
    min = 0x80;
  } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
    need = 3;
    cp = s[0] & 0x0f;
    min = 0x800;
  } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
    need = 4;
    cp = s[0] & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (need > n)
    return 0;
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  *cp_r = cp;
  return need;
}

void msoauth_text_shown(const char *text, char *out, size_t size) {
  const unsigned char *p = (const unsigned char *)text;
  size_t len, i = 0, o = 0;

  if (text == NULL) {
    snprintf(out, size, "(none)");
    return;
  }
  len = strlen(text);
  while (i < len) {
    unsigned long cp = 0;
    size_t n = msoauth_utf8_seq(p + i, len - i, &cp);
    int bad = n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
    size_t shown = bad ? 1 : n;

    if (o + shown > size - 4)
      break;
    if (bad)
      out[o] = '?';
    else
      memcpy(out + o, text + i, n);
    o += shown;
    i += n != 0 ? n : 1;
  }
  if (i < len) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
}
