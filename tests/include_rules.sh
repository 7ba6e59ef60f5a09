#!/bin/sh
# include_rules.sh - the layers, as the #include lines draw them (issue 13):
# - pam_msoauth/, sasl_xoauth2/ and tools/ (the hosts) reach the core
#   through token.h, config.h and base headers: never cache.h, grant.h,
#   http.h or the token layer's private token_int.h;
# - in common/, only the token layer (token.c and its parts token_*.c,
#   sharing token_int.h) composes: no other file includes cache.h, grant.h
#   and identity.h together, and none includes token.h or token_int.h
#   (nothing below the token layer points up to it);
# - no file of common/ is over 800 lines: each can be read in one sitting.
# Speaks TAP, one line per file checked; names the file and the header.
# Usage: tests/include_rules.sh [SRCDIR]
SRC=${1:-${MSOAUTH_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}}
n=0
failed=0

# The headers file includes with #include "...", one a line.
includes() {
  sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$1"
}

has() {
  includes "$1" | grep -qx "$2"
}

report() { # file, problems ("" when none)
  n=$((n + 1))
  if [ -z "$2" ]; then
    echo "ok $n - $1"
  else
    failed=$((failed + 1))
    echo "not ok $n - $1:$2"
  fi
}

for f in "$SRC"/pam_msoauth/*.[ch] "$SRC"/sasl_xoauth2/*.[ch] "$SRC"/tools/*.[ch]; do
  [ -f "$f" ] || continue
  bad=""
  for h in cache.h grant.h http.h token_int.h; do
    if has "$f" "$h"; then
      bad="$bad includes $h (a host reaches the core through token.h);"
    fi
  done
  report "${f#"$SRC"/}" "$bad"
done

for f in "$SRC"/common/*.[ch]; do
  [ -f "$f" ] || continue
  name=${f##*/}
  bad=""
  case $name in
  token.c | token_*.c | token_int.h) ;;
  *)
    if has "$f" cache.h && has "$f" grant.h && has "$f" identity.h; then
      bad="$bad includes cache.h, grant.h and identity.h together (only the token layer composes);"
    fi
    if has "$f" token_int.h; then
      bad="$bad includes token_int.h (private to the token layer);"
    fi
    if has "$f" token.h; then
      bad="$bad includes token.h (below the token layer: it must not point up);"
    fi
    ;;
  esac
  lines=$(wc -l <"$f")
  if [ "$lines" -gt 800 ]; then
    bad="$bad is $lines lines long (at most 800: split it by concern);"
  fi
  report "common/$name" "$bad"
done

echo "1..$n"
if [ "$failed" -gt 0 ]; then
  echo "# $failed file(s) break the include rules (see tests/include_rules.sh)" >&2
  exit 1
fi
exit 0
