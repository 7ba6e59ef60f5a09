#!/bin/sh
# valgrind-loop.sh - valgrind memcheck over COUNT (120) SASL client
# authentications through the plugin libxoauth2.so in one process
# (tests/sasl/sasl_loop: good, wrong password, refused by the server and
# unreachable in turn, with XOAUTH2 and OAUTHBEARER): no error and no
# definite or indirect leak. Skipped (exit 77) without valgrind; in a
# --enable-sanitizers build the loop runs without valgrind (the sanitizers
# check it, and valgrind cannot run their binaries).
#
#   tests/sasl/valgrind-loop.sh [COUNT]
set -u

srcdir=${MSOAUTH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MSOAUTH_BUILDDIR:-$srcdir}
plugin="$builddir/sasl_xoauth2/.libs/libxoauth2.so"
count=${1:-120}

[ -f "$plugin" ] || { echo "FAIL: $plugin was not built"; exit 1; }
if [ "${MSOAUTH_SANITIZERS:-no}" = yes ]; then
  check=
elif command -v valgrind >/dev/null; then
  # libsasl2 dlcloses its plugins: --keep-debuginfo names their frames.
  check="valgrind --quiet --leak-check=full --keep-debuginfo=yes
    --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --error-exitcode=3"
else
  echo "SKIP: valgrind is not installed"
  exit 77
fi

T=$(mktemp -d /tmp/msoauth-sasloop-XXXXXX) || exit 99
trap 'rm -rf "$T"' EXIT

start=$(date +%s)
# shellcheck disable=SC2086
MSOAUTH_SASLLOOP_DIR="$T" MSOAUTH_SRCDIR="$srcdir" \
MSOAUTH_BUILDDIR="$builddir" \
  "$builddir/libtool" --mode=execute $check \
    "$builddir/tests/sasl/sasl_loop" "$count"
status=$?
echo "valgrind-loop: $count authentications in" \
  "$(($(date +%s) - start)) s${check:+ under valgrind}, status $status"
exit $status
