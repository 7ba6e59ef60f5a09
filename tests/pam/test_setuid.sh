#!/bin/sh
# test_setuid.sh - pam_msoauth in a setuid-root program run by nobody, with
# the environment an attacker chooses (issue 12, item 1): a copy of
# setuid_driver (a minimal su) is made setuid root, a service file naming
# the built module is written to /etc/pam.d, and nobody runs the driver
# with SSLKEYLOGFILE pointing into a directory only root may write, under
# umask 000, with proxy variables set. libcurl must not start before the
# password prompt, no keylog file may appear, and the login still works
# against the emulator. OPENSSL_ia32cap, which libcrypto reads as it is
# loaded, makes the module refuse before the prompt.
#
# It needs root (a setuid copy, a service file) and a file system that
# honours setuid under /tmp; otherwise it is skipped (exit 77).
set -u

srcdir=${MSOAUTH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MSOAUTH_BUILDDIR:-$srcdir}
python=${PYTHON3:-/usr/bin/python3}
module="$builddir/pam_msoauth/.libs/pam_msoauth.so"
driver="$builddir/tests/pam/setuid_driver"

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root (a setuid copy, a file in /etc/pam.d)"
# An instrumented setuid program is no test of the real one, and the
# sanitizer runtimes refuse some of what a secure exec strips.
[ "${MSOAUTH_SANITIZERS:-no}" = yes ] &&
  skip "a --enable-sanitizers build"
[ -x "$python" ] || skip "python3 is not installed"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
[ -f "$module" ] || fail "$module was not built"
[ -x "$driver" ] || fail "$driver was not built"
[ -d /etc/pam.d ] && [ -w /etc/pam.d ] || skip "/etc/pam.d is not writable"
nobody_gid=$(id -g nobody 2>/dev/null) || skip "there is no user nobody"

T=$(mktemp -d /tmp/msoauth-setuid-XXXXXX) || exit 99
service="msoauth-test-setuid-$$"
emu_pid=
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid"
  rm -f "/etc/pam.d/$service"
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# Root's directory: nobody may enter it but not write in it; the setuid
# copy sits one level down, where only root and nobody's group may go.
chmod 755 "$T"
mkdir "$T/bin"
chown "root:$nobody_gid" "$T/bin"
chmod 750 "$T/bin"
cp "$driver" "$T/bin/su-test"
chown root:root "$T/bin/su-test"
chmod 4755 "$T/bin/su-test"

# Is setuid honoured here (no nosuid mount)?
if [ "$(setpriv --reuid=nobody --regid="$nobody_gid" --clear-groups \
  "$T/bin/su-test" 2>&1)" != "usage: setuid_driver SERVICE USER [abort]" ]; then
  skip "the driver does not run as nobody from $T"
fi
mounted=$(findmnt -n -o OPTIONS --target "$T" 2>/dev/null)
case ",$mounted," in
*,nosuid,*) skip "$T is on a nosuid file system" ;;
esac

# --- the emulator
"$python" "$srcdir/tests/emulator/entra_emu.py" --state-dir "$T/emu" \
  --lifetime 300 &
emu_pid=$!
i=0
while [ ! -f "$T/emu/ready" ]; do
  i=$((i + 1))
  [ $i -lt 200 ] || fail "the emulator did not start"
  sleep 0.1
done
url=$(cat "$T/emu/url")
emuctl() {
  "$python" "$srcdir/tests/emulator/emuctl.py" --state-dir "$T/emu" "$@"
}
counter() { emuctl --field "$1" --default 0 counters; }

# --- the module's configuration (root's, read by the setuid program)
umask 077
cat >"$T/msoauth.conf" <<EOF
authority = $url
tenant = contoso.com
client_id = 11111111-1111-1111-1111-111111111111
ca_file = $T/emu/ca.pem
cache_dir = $T/cache
retries = 0
failure_cache = 0
log_level = debug
EOF
umask 022
cat >"/etc/pam.d/$service" <<EOF
# written by msoauth's test_setuid.sh; removed when it ends
auth required $module config=$T/msoauth.conf
EOF

# Runs the setuid copy as nobody in the environment an attacker sets up;
# extra variables and the driver's arguments follow.
as_nobody() {
  keylog=$1
  shift
  (
    umask 000
    exec env -i PATH=/usr/bin:/bin SSLKEYLOGFILE="$keylog" \
      https_proxy=http://127.0.0.1:1 HTTPS_PROXY=http://127.0.0.1:1 \
      ALL_PROXY=http://127.0.0.1:1 CURL_SSL_BACKEND=gnutls "$@"
  )
}

# --- 1: Ctrl-C at the prompt. libcurl not started, no keylog, no request.
out=$(as_nobody "$T/keylog-abort" setpriv --reuid=nobody \
  --regid="$nobody_gid" --clear-groups \
  "$T/bin/su-test" "$service" alice@contoso.com abort </dev/null)
echo "# abort: $out"
case "$out" in
*"prompted=yes"*) ;;
*) fail "the driver was never prompted: $out" ;;
esac
case "$out" in
*"mapped_at_prompt=no curl_at_prompt=no curl_started=no"*) ;;
*) fail "libcurl was started before the password was known: $out" ;;
esac
[ -e "$T/keylog-abort" ] &&
  fail "SSLKEYLOGFILE was created: $(ls -l "$T/keylog-abort")"
n=$(counter total)
[ "$n" = 0 ] || fail "an aborted prompt sent $n requests"

# --- 2: the password. The login works; still no keylog, no proxy used.
out=$(echo "Correct horse battery staple" |
  as_nobody "$T/keylog-login" setpriv --reuid=nobody \
    --regid="$nobody_gid" --clear-groups \
    "$T/bin/su-test" "$service" alice@contoso.com)
echo "# login: $out"
case "$out" in
"result=PAM_SUCCESS prompted=yes mapped_at_prompt=no curl_at_prompt=no curl_started=yes") ;;
*) fail "the login did not go as expected: $out" ;;
esac
[ -e "$T/keylog-login" ] &&
  fail "SSLKEYLOGFILE was created: $(ls -l "$T/keylog-login")"
n=$(counter by_grant/password)
[ "$n" = 1 ] || fail "expected 1 password grant, the emulator saw $n"

# --- 3: a wrong password is refused all the same.
out=$(echo "not her password" |
  as_nobody "$T/keylog-wrong" setpriv --reuid=nobody \
    --regid="$nobody_gid" --clear-groups \
    "$T/bin/su-test" "$service" alice@contoso.com)
echo "# wrong: $out"
case "$out" in
"result=PAM_AUTH_ERR prompted=yes"*) ;;
*) fail "a wrong password was not refused: $out" ;;
esac
[ -e "$T/keylog-wrong" ] && fail "SSLKEYLOGFILE was created"

# --- 4: OPENSSL_ia32cap was read by libcrypto before the module ran:
# refused before the prompt, nothing sent.
before=$(counter total)
out=$(echo "Correct horse battery staple" |
  as_nobody "$T/keylog-cap" OPENSSL_ia32cap="~0x0" setpriv --reuid=nobody \
    --regid="$nobody_gid" --clear-groups \
    "$T/bin/su-test" "$service" alice@contoso.com)
echo "# ia32cap: $out"
case "$out" in
"result=PAM_AUTHINFO_UNAVAIL prompted=no mapped_at_prompt=no curl_at_prompt=no curl_started=no") ;;
*) fail "OPENSSL_ia32cap was not refused: $out" ;;
esac
n=$(counter total)
[ "$n" = "$before" ] || fail "a refused environment sent a request"

echo "PASS: setuid driver as nobody: no libcurl before the prompt, no keylog, login works"
exit 0
