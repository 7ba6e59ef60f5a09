/*
 * text.h - text from elsewhere (a user name, the identity platform's
 * messages) made safe for a log line or a terminal.
 *
 * A log line or a terminal interprets control characters: CR rewrites a
 * line, ESC starts a sequence that can clear the screen, retitle the window
 * or fake a prompt, and the C1 controls (U+0080..U+009F, 0x9b is CSI) do the
 * same on terminals that honour them. One sanitiser serves every such place.
 */
#ifndef MSOAUTH_TEXT_H
#define MSOAUTH_TEXT_H

#include <stddef.h>

/* Length of the UTF-8 sequence starting at s (n > 0 bytes left), 0 when it
 * is invalid: overlong, a surrogate, above U+10FFFF or truncated. *cp_r
 * gets the code point. */
size_t msoauth_utf8_seq(const unsigned char *s, size_t n, unsigned long *cp_r);

/*
 * text as a log line or a terminal may show it, into out (size bytes, at
 * least 4): each control character (C0, DEL, C1; ESC included, so no
 * escape sequence survives) and each byte of invalid UTF-8 becomes '?', and
 * a text longer than size - 4 bytes is cut, with "...". NULL gives
 * "(none)".
 */
void msoauth_text_shown(const char *text, char *out, size_t size);

#endif
