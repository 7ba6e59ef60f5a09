#!/bin/sh
# postfix.sh - Postfix relays a message with XOAUTH2 end to end: a private
# Postfix instance (its own config dir and queue, loopback only, the smtp
# client in its default chroot) relays through smtp_sasl_* with the plugin
# to the Dovecot stand-in's submission port (Exchange Online's part), whose
# relay sink must then hold the message. As conf/postfix/main.cf.example
# says: STARTTLS required (smtp_tls_security_level = encrypt, the
# emulator's CA), smtp_sasl_tls_security_options = noanonymous, the default
# smtp_sasl_security_options; the token must travel inside TLS (the
# stand-in's submission.log). First, where an attacker strips STARTTLS
# (smtp_tls_security_level = may toward the stand-in's submission_notls
# port), Postfix's default noplaintext must keep the token at home: the
# message is deferred, no AUTH is seen and no token is requested.
#
# Postfix gives SASL plugins no options: the test build of the plugin
# (tests/sasl/.libs) reads $builddir/tests/sasl/msoauth-test.conf, written
# here; Postfix finds it through import_environment SASL_PATH. Needs root
# (Postfix's master) and Debian's postfix; skipped (exit 77) otherwise.
set -u

srcdir=${MSOAUTH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MSOAUTH_BUILDDIR:-$srcdir}
python=${PYTHON3:-/usr/bin/python3}
plugindir="$builddir/tests/sasl/.libs"
conf="$builddir/tests/sasl/msoauth-test.conf"
sysplugins=$(pkg-config --variable=plugindir libsasl2 2>/dev/null)
[ -n "$sysplugins" ] || sysplugins=/usr/lib/x86_64-linux-gnu/sasl2

skip() { echo "SKIP: $*"; exit 77; }
fail() {
  echo "FAIL: $*"
  [ -f "$T/pf/maillog" ] && { echo "--- maillog"; tail -30 "$T/pf/maillog"; }
  [ -f "$T/st/dovecot.log" ] && {
    echo "--- dovecot.log"
    grep -v Debug "$T/st/dovecot.log" | tail -15
  }
  exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root (Postfix's master)"
[ -x /usr/sbin/postfix ] || skip "postfix is not installed"
# Postfix's smtp is not instrumented and runs chrooted with a filtered
# environment: it cannot load an ASan build of the plugin. The plain build
# runs this test; test_sasl and sasl_loop check the plugin under the
# sanitizers, clients.sh inside imtest, pop3test and smtptest.
[ "${MSOAUTH_SANITIZERS:-no}" = yes ] &&
  skip "a --enable-sanitizers build (Postfix's smtp cannot load it)"
getent passwd postfix >/dev/null || skip "no postfix user"
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] ||
  skip "dovecot is not installed"
[ -x "$python" ] || skip "python3 is not installed"
[ -f "$plugindir/libxoauth2.so" ] || fail "$plugindir/libxoauth2.so was not built"

T=$(mktemp -d /tmp/msoauth-postfix-XXXXXX) || exit 99
emu_pid=
st_pid=
pf_started=
cleanup() {
  [ -n "$pf_started" ] && /usr/sbin/postfix -c "$T/pf" stop >/dev/null 2>&1
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
  while [ -z "$(ls $1 2>/dev/null)" ]; do
    i=$((i + 1))
    [ $i -lt "${2:-300}" ] || return 1
    sleep 0.1
  done
}
free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- the emulator and the stand-in
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
submission=$(port submission)
notls=$(port submission_notls)
count() {
  curl -s --cacert "$T/emu/ca.pem" "$url/_emu/counters" |
    "$python" -c 'import json,sys; print(json.load(sys.stdin)["total"])'
}

# --- the plugin's configuration; the cache belongs to the user smtp
# runs as after its chroot.
install -d -o postfix -g postfix -m 0700 "$T/cache"
umask 077
cat >"$conf" <<EOF
authority = $url
tenant = contoso.com
client_id = 11111111-1111-1111-1111-111111111111
ca_file = $T/emu/ca.pem
cache_dir = $T/cache
auth = password
EOF
umask 022

# --- a private Postfix instance
pf=$T/pf
smtpd=$(free_port)
mkdir -p "$pf/queue" "$pf/data"
chown postfix "$pf/data"
sed "s/^smtp      inet /127.0.0.1:$smtpd inet /" /etc/postfix/master.cf \
  >"$pf/master.cf"
grep -q "^127.0.0.1:$smtpd inet" "$pf/master.cf" ||
  fail "no smtpd line to move in /etc/postfix/master.cf"
grep -Eq '^smtp +unix +- +- +y ' "$pf/master.cf" ||
  fail "the smtp client does not run chrooted in master.cf"
cat >"$pf/sasl_passwd" <<EOF
[127.0.0.1]:$submission alice@contoso.com:Correct horse battery staple
[127.0.0.1]:$notls alice@contoso.com:Correct horse battery staple
EOF
chmod 600 "$pf/sasl_passwd"
# The relay without TLS first (an attacker stripped STARTTLS); the
# examples' settings come after it.
cat >"$pf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.test
myorigin = contoso.com
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$notls
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:$pf/sasl_passwd
smtp_sasl_mechanism_filter = xoauth2
smtp_sasl_tls_security_options = noanonymous
smtp_tls_security_level = may
smtp_tls_CAfile = $T/emu/ca.pem
smtp_tls_loglevel = 1
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C SASL_PATH=$plugindir:$sysplugins
maillog_file = $pf/maillog
maillog_file_prefixes = $pf
alias_maps =
alias_database =
smtputf8_enable = no
EOF
MAIL_CONFIG=$pf /usr/lib/postfix/configure-instance.sh - >/dev/null 2>&1 ||
  fail "configure-instance.sh failed"
/usr/sbin/postfix -c "$pf" start >"$T/postfix.out" 2>&1 ||
  { cat "$T/postfix.out"; fail "postfix did not start"; }
pf_started=1
i=0
until "$python" -c "import socket; socket.create_connection(('127.0.0.1', $smtpd), 1)" 2>/dev/null; do
  i=$((i + 1))
  [ $i -lt 100 ] || fail "postfix's smtpd did not listen"
  sleep 0.1
done
echo "ok 1 - a private postfix listens on 127.0.0.1:$smtpd"

# send SUBJECT: a message in through smtpd.
send() {
  "$python" - "$smtpd" "$1" <<'EOF' || fail "postfix's smtpd refused the message"
import smtplib, sys
msg = ("From: alice@contoso.com\r\nTo: carol@bravo.com\r\n"
       "Subject: %s\r\n\r\nRelayed with XOAUTH2.\r\n" % sys.argv[2])
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as s:
    s.sendmail("alice@contoso.com", ["carol@bravo.com"], msg)
EOF
}

# --- STARTTLS stripped: the token stays at home
send "msoauth relay test $$ without TLS"
i=0
until grep -q 'status=deferred' "$pf/maillog" 2>/dev/null; do
  grep -q 'status=sent' "$pf/maillog" 2>/dev/null &&
    fail "the message went out without TLS, the token in clear"
  i=$((i + 1))
  [ $i -lt 300 ] || fail "postfix neither deferred nor sent the message"
  sleep 0.1
done
grep 'status=deferred' "$pf/maillog" | grep -q 'no mechanism available' ||
  fail "deferred for another reason than 'no mechanism available'"
grep -q ' AUTH ' "$T/st/submission.log" 2>/dev/null &&
  fail "a token was sent without TLS: $(cat "$T/st/submission.log")"
[ "$(count)" = 0 ] || fail "a token was requested for a connection without TLS"
echo "ok 2 - without TLS, noplaintext keeps XOAUTH2 out: deferred, no AUTH, no request"
/usr/sbin/postsuper -c "$pf" -d ALL >/dev/null 2>&1 ||
  fail "postsuper could not drop the deferred message"

# --- the examples' settings: STARTTLS required, then XOAUTH2 inside it
/usr/sbin/postconf -c "$pf" -e "relayhost = [127.0.0.1]:$submission" \
  "smtp_tls_security_level = encrypt" || fail "postconf failed"
/usr/sbin/postfix -c "$pf" reload >/dev/null 2>&1 || fail "postfix reload failed"
subject="msoauth relay test $$"
send "$subject"
echo "ok 3 - postfix took the message"
wait_file "$T/st/relayed/*.eml" 300 || fail "the message did not arrive"
grep -q "$subject" "$T"/st/relayed/*.eml || fail "another message arrived"
grep -q 'sasl_method=XOAUTH2' "$T/st/dovecot.log" 2>/dev/null ||
  grep -q 'method=XOAUTH2' "$T/st/dovecot.log" ||
  fail "the stand-in saw no XOAUTH2 login"
echo "ok 4 - the message arrived through XOAUTH2"
i=0
until grep -q 'status=sent' "$pf/maillog"; do
  i=$((i + 1))
  [ $i -lt 100 ] || fail "postfix did not log status=sent"
  sleep 0.1
done
echo "ok 5 - postfix logged status=sent"
# The stand-in saw STARTTLS before the AUTH of that session, and no AUTH
# outside TLS; Postfix verified the stand-in's certificate.
grep -q 'AUTH XOAUTH2 tls=yes' "$T/st/submission.log" ||
  fail "no XOAUTH2 inside TLS: $(cat "$T/st/submission.log")"
grep -q 'tls=no' "$T/st/submission.log" &&
  fail "an AUTH outside TLS: $(cat "$T/st/submission.log")"
s=$(sed -n 's/^\([0-9]*\) AUTH XOAUTH2 tls=yes$/\1/p' "$T/st/submission.log")
grep -q "^$s tls TLSv1" "$T/st/submission.log" ||
  fail "the AUTH session did not start TLS first"
grep -q 'Trusted TLS connection established to 127.0.0.1' "$pf/maillog" ||
  fail "postfix did not log a trusted TLS connection"
echo "ok 6 - the token travelled inside TLS (certificate trusted)"
echo "6 passed"
