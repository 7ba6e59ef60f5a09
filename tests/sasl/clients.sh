#!/bin/sh
# clients.sh - cyrus-clients' imtest, pop3test and smtptest, real libsasl2
# applications, sign in to the Dovecot stand-in (tests/sasl/standin.py)
# with the plugin, for the auth methods password, service_account and app
# (certificate), and one identity-rule refusal.
#
# These clients give plugins no SASL options, as Postfix does: the plugin
# reads its default configuration. The test uses a build of the plugin
# (tests/sasl/.libs/libxoauth2.so) whose only difference is that default,
# $builddir/tests/sasl/msoauth-test.conf, written here; nothing outside
# the build tree is touched. Skipped (exit 77) without cyrus-clients,
# dovecot or python3.
set -u

srcdir=${MSOAUTH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MSOAUTH_BUILDDIR:-$srcdir}
python=${PYTHON3:-/usr/bin/python3}
bindir=/usr/lib/cyrus/bin
plugindir="$builddir/tests/sasl/.libs"
conf="$builddir/tests/sasl/msoauth-test.conf"
sysplugins=$(pkg-config --variable=plugindir libsasl2 2>/dev/null)
[ -n "$sysplugins" ] || sysplugins=/usr/lib/x86_64-linux-gnu/sasl2

skip() { echo "SKIP: $*"; exit 77; }
fail() {
  echo "FAIL: $*"
  [ -f "$T/out" ] && { echo "--- client output"; cat "$T/out"; }
  [ -f "$T/st/dovecot.log" ] && {
    echo "--- dovecot.log"
    grep -v Debug "$T/st/dovecot.log" | tail -20
  }
  exit 1
}

[ -x "$bindir/imtest" ] || skip "cyrus-clients is not installed"
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] ||
  skip "dovecot is not installed"
[ -x "$python" ] || skip "python3 is not installed"
[ -f "$plugindir/libxoauth2.so" ] || fail "$plugindir/libxoauth2.so was not built"
# imtest & co. are not instrumented: an ASan build of the plugin needs the
# ASan runtime preloaded into them, and so preloaded imtest hangs on
# glibc's locale lock (in json-c's newlocale). The plain build runs this
# test; test_sasl and sasl_loop check the plugin under the sanitizers.
[ "${MSOAUTH_SANITIZERS:-no}" = yes ] &&
  skip "a --enable-sanitizers build (imtest cannot load it)"

T=$(mktemp -d /tmp/msoauth-clients-XXXXXX) || exit 99
emu_pid=
st_pid=
cleanup() {
  [ -n "$st_pid" ] && kill "$st_pid" 2>/dev/null && wait "$st_pid"
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid"
  rm -f "$conf"
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
chmod 755 "$T"

wait_file() {
  i=0
  while [ ! -f "$1" ]; do
    i=$((i + 1))
    [ $i -lt 300 ] || return 1
    sleep 0.1
  done
}

"$python" "$srcdir/tests/emulator/entra_emu.py" --state-dir "$T/emu" \
  --lifetime 600 &
emu_pid=$!
wait_file "$T/emu/ready" || fail "the emulator did not start"
chmod 755 "$T/emu"
url=$(cat "$T/emu/url")
"$python" "$srcdir/tests/sasl/standin.py" --dir "$T/st" --emu-dir "$T/emu" \
  --lifetime 600 &
st_pid=$!
wait_file "$T/st/ready" || fail "the Dovecot stand-in did not start"
port() { tr ' ' '\n' <"$T/st/ports" | sed -n "s/^$1=//p"; }
imap=$(port imap)
pop3=$(port pop3)
smtp=$(port submission)

count() {
  curl -s --cacert "$T/emu/ca.pem" "$url/_emu/counters" |
    "$python" -c 'import json,sys; print(json.load(sys.stdin)["total"])'
}

# write_conf EXTRA: the plugin's default configuration.
write_conf() {
  umask 077
  printf 'authority = %s\ntenant = contoso.com\nca_file = %s\n%s' \
    "$url" "$T/emu/ca.pem" "$1" >"$conf"
  printf 'cache_dir = %s/cache\n' "$T" >>"$conf"
  umask 022
}

# client PROTO MECH USER PASS: one sign-in; its output lands in $T/out.
client() {
  case $1 in
  imap) prog=imtest p=$imap bye='. LOGOUT' ;;
  pop3) prog=pop3test p=$pop3 bye='QUIT' ;;
  smtp) prog=smtptest p=$smtp bye='QUIT' ;;
  esac
  printf '%s\r\n' "$bye" |
    SASL_PATH="$plugindir:$sysplugins" timeout 30 "$bindir/$prog" \
      -p "$p" -m "$2" -a "$3" -w "$4" 127.0.0.1 >"$T/out" 2>&1
}

passed=0
ok() {
  client "$@"
  grep -q '^Authenticated' "$T/out" ||
    fail "$1 $2 as $3 did not authenticate"
  passed=$((passed + 1))
  echo "ok $passed - $1 $2 as $3 ($method)"
}

# --- auth = password: one ROPC request, then the cache
method=password
write_conf "client_id = 11111111-1111-1111-1111-111111111111
auth = password
"
for proto in imap pop3 smtp; do
  ok $proto XOAUTH2 alice@contoso.com 'Correct horse battery staple'
done
ok imap OAUTHBEARER alice@contoso.com 'Correct horse battery staple'
[ "$(count)" = 1 ] || fail "password: $(count) requests, 1 expected"

# auth = token is left to test_sasl: imtest copies -w into a 1 KB buffer
# (strcpy: "buffer overflow detected") and a token is longer.

# --- auth = service_account: svc-mail's token opens bob's mailbox
method=service_account
printf 'Service-Account-Pw1\n' >"$T/svc.pw"
chmod 600 "$T/svc.pw"
write_conf "client_id = 11111111-1111-1111-1111-111111111111
auth = service_account
service_account = svc-mail@contoso.com
service_account_password_file = $T/svc.pw
"
for proto in imap pop3 smtp; do
  ok $proto XOAUTH2 bob@contoso.com unused
done

# --- auth = app with a certificate
method=app
app=33333333-3333-3333-3333-333333333333
write_conf "client_id = $app
auth = app
client_certificate_file = $T/emu/client-$app.crt
client_key_file = $T/emu/client-$app.key
"
for proto in imap pop3 smtp; do
  ok $proto XOAUTH2 alice@contoso.com unused
done

# --- a refusal by the identity rules: no request, and the reason shown
method=password
write_conf "client_id = 11111111-1111-1111-1111-111111111111
auth = password
"
before=$(count)
client imap XOAUTH2 carol@bravo.com 'x'
grep -q '^Authenticated' "$T/out" && fail "carol@bravo.com was let in"
[ "$(count)" = "$before" ] || fail "the refused domain made a request"
passed=$((passed + 1))
echo "ok $passed - foreign domain refused without a request"

echo "$passed passed"
