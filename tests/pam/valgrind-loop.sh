#!/bin/sh
# valgrind-loop.sh - valgrind memcheck over COUNT (200) authentications
# through pam_msoauth in one process (tests/pam/pam_loop: good, wrong and
# unreachable in turn, as a Dovecot auth worker makes them): no error and
# no definite or indirect leak. Skipped (exit 77) without valgrind or
# pam_wrapper.
#
#   tests/pam/valgrind-loop.sh [COUNT]
set -u
asan=

srcdir=${MSOAUTH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MSOAUTH_BUILDDIR:-$srcdir}
module="$builddir/pam_msoauth/.libs/pam_msoauth.so"
count=${1:-200}

# A --enable-sanitizers build: valgrind cannot run its binaries, the
# sanitizers check the loop instead.
if [ "${MSOAUTH_SANITIZERS:-no}" = yes ]; then
  check=
  # gcc's shared ASan runtime must come before pam_wrapper.
  asan=$(ldd "$builddir/tests/pam/pam_loop" | awk '/libasan/ { print $3 }')
elif command -v valgrind >/dev/null; then
  check="valgrind --quiet --leak-check=full
    --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --error-exitcode=3"
else
  echo "SKIP: valgrind is not installed"
  exit 77
fi
wrapper=$(pkg-config --variable=modules pam_wrapper 2>/dev/null)
[ -n "$wrapper" ] || { echo "SKIP: pam_wrapper is not installed"; exit 77; }
[ -f "$module" ] || { echo "FAIL: $module was not built"; exit 1; }

T=$(mktemp -d /tmp/msoauth-pamloop-XXXXXX) || exit 99
trap 'rm -rf "$T"' EXIT
mkdir "$T/svc"
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' \
  >"$T/svc/other"
for svc in loop loop-down; do
  conf=loop.conf
  [ "$svc" = loop-down ] && conf=down.conf
  cat >"$T/svc/$svc" <<EOT
auth    required $module config=$T/$conf
account required $module config=$T/$conf
EOT
done

start=$(date +%s)
# The preloads reach pam_loop alone, not libtool's shell and its tools (an
# ASan runtime would report their leaks). pam_wrapper loads libpam with
# RTLD_DEEPBIND, which ASan cannot run: the DISABLE_DEEPBIND variables.
# shellcheck disable=SC2086
PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/svc" \
UID_WRAPPER_DISABLE_DEEPBIND=1 PAM_WRAPPER_DISABLE_DEEPBIND=1 \
MSOAUTH_PAMLOOP_DIR="$T" MSOAUTH_SRCDIR="$srcdir" \
  "$builddir/libtool" --mode=execute \
    env LD_PRELOAD="${asan:+$asan }libpam_wrapper.so" $check \
    "$builddir/tests/pam/pam_loop" "$count"
status=$?
echo "valgrind-loop: $count authentications in" \
  "$(($(date +%s) - start)) s${check:+ under valgrind}, status $status"
exit $status
