#!/bin/sh
# tests/cli/mail_clients.sh - `msoauth token` as mail clients use it, against
# the Entra ID emulator and the SASL tests' Dovecot stand-in
# (tests/sasl/standin.py):
#  - curl --oauth2-bearer "$(msoauth token USER)" over IMAP (XOAUTH2);
#  - the examples of conf/clients/ as shipped, changed by sed in host, port
#    and CA only: mbsync (AuthMechs XOAUTH2, PassCmd "msoauth token USER",
#    through the built SASL plugin, sasl_xoauth2/.libs, with auth = token),
#    msmtp (XOAUTH2 and OAUTHBEARER), neomutt in batch mode
#    (the message arrives with the right sender) and Python's imaplib,
#    poplib and smtplib (mail_oauth.py). Their `msoauth` is the built one
#    with this test's configuration, whose profile mail (auth = refresh)
#    alice signs in to with a device code, as the examples say.
# Exit status 0 when all pass, 77 (skipped) without curl or Dovecot; a
# client that is not installed is skipped with a note.
set -u

src=$(cd "${MSOAUTH_SRCDIR:-.}" && pwd)
build=$(cd "${MSOAUTH_BUILDDIR:-.}" && pwd)
py=${PYTHON3:-/usr/bin/python3}
msoauth="$build/tools/msoauth"
alice_pw='Correct horse battery staple'

command -v curl >/dev/null 2>&1 || { echo "# no curl: skipped"; exit 77; }
[ -x /usr/sbin/dovecot ] || { echo "# no dovecot: skipped"; exit 77; }
[ -f "$src/tests/sasl/standin.py" ] || { echo "# no stand-in: skipped"; exit 77; }

tmp=$(mktemp -d /tmp/msoauth-cli-mail-XXXXXX)
emu_pid=
standin_pid=
failed=0
n=0

cleanup() {
  [ -n "$standin_pid" ] && kill "$standin_pid" 2>/dev/null && wait "$standin_pid" 2>/dev/null
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
  if [ -n "${CLI_MAIL_KEEP:-}" ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { # check DESCRIPTION COMMAND...
  d=$1; shift
  if "$@"; then ok "$d"; else not_ok "$d"; fi
}

wait_file() { # wait_file PATH SECONDS
  i=0
  while [ ! -e "$1" ]; do
    i=$((i + 1))
    [ $i -gt $(($2 * 10)) ] && return 1
    sleep 0.1
  done
}

# The emulator, readable by Dovecot's users (it asks /_emu/introspect).
chmod 755 "$tmp"
"$py" "$src/tests/emulator/entra_emu.py" --state-dir "$tmp/emu" \
  --lifetime 600 &
emu_pid=$!
wait_file "$tmp/emu/ready" 30 || { echo "# the emulator did not start"; exit 1; }
chmod 755 "$tmp/emu"
"$py" "$src/tests/sasl/standin.py" --dir "$tmp/standin" --emu-dir "$tmp/emu" \
  --lifetime 600 >"$tmp/standin.log" 2>&1 &
standin_pid=$!
wait_file "$tmp/standin/ready" 60 || {
  echo "# the Dovecot stand-in did not start"; cat "$tmp/standin.log"; exit 1; }
port() { tr ' ' '\n' <"$tmp/standin/ports" | sed -n "s/^$1=//p"; }
imap=$(port imap)

url=$(cat "$tmp/emu/url")
umask 077
cat >"$tmp/msoauth.conf" <<EOF
authority = $url
tenant = contoso.com
client_id = 11111111-1111-1111-1111-111111111111
ca_file = $tmp/emu/ca.pem
cache_dir = $tmp/cache
EOF
printf '%s\n' "$alice_pw" >"$tmp/alice-password"

# ------------------------------------------------------------ curl
token=$("$msoauth" -c "$tmp/msoauth.conf" --password-file "$tmp/alice-password" \
  token alice@contoso.com)
check "msoauth token prints a token" test -n "$token"

curl -sS --max-time 20 --oauth2-bearer "$token" --login-options AUTH=XOAUTH2 \
  -u 'alice@contoso.com:' "imap://127.0.0.1:$imap/" >"$tmp/curl.out" 2>&1
status=$?
check "curl --oauth2-bearer lists alice's mailbox over IMAP" \
  test $status -eq 0 -a -s "$tmp/curl.out"
grep -q INBOX "$tmp/curl.out" && ok "the listing names INBOX" ||
  not_ok "the listing names INBOX"

curl -sS --max-time 20 --oauth2-bearer "$token" --login-options AUTH=XOAUTH2 \
  -u 'bob@contoso.com:' "imap://127.0.0.1:$imap/" >/dev/null 2>&1
check "alice's token does not open bob's mailbox" test $? -ne 0

# ------------------------------------------------------------ the examples
emuctl() { "$py" "$src/tests/emulator/emuctl.py" --state-dir "$tmp/emu" "$@"; }
imaps=$(port imaps)
pop3s=$(port pop3s)
submission=$(port submission)
ca="$tmp/emu/ca.pem"
printf '[mail]\nauth = refresh\n' >>"$tmp/msoauth.conf"
# `msoauth` as the examples run it: the built one, with this configuration.
mkdir -p "$tmp/bin" "$tmp/home"
printf '#!/bin/sh\nexec "%s" -c "%s" "$@"\n' "$msoauth" "$tmp/msoauth.conf" \
  >"$tmp/bin/msoauth"
chmod 755 "$tmp/bin/msoauth"
HOME="$tmp/home"
PATH="$tmp/bin:$PATH"
export HOME PATH

# alice signs in once, as the examples say (msoauth -p mail login USER).
emuctl options '{"device_interval": 1}' >/dev/null
msoauth -p mail login alice@contoso.com >"$tmp/login.out" 2>&1 &
login_pid=$!
code=
i=0
while [ -z "$code" ] && [ $i -lt 100 ]; do
  code=$(emuctl --field pending/0/user_code --default "" device 2>/dev/null)
  [ -n "$code" ] || { i=$((i + 1)); sleep 0.1; }
done
emuctl device "{\"user_code\": \"$code\", \"action\": \"approve\",
  \"user\": \"alice@contoso.com\"}" >/dev/null
wait $login_pid
check "alice signs in to the profile mail (device code)" test $? -eq 0

# ------------------------------------------------------------ mbsync
# conf/clients/mbsyncrc as shipped (host, port and CA changed). mbsync hands
# what PassCmd prints to libsasl2, which loads the built plugin
# (SASL_PATH). mbsync cannot set the plugin's xoauth2_config, so the plugin
# reads this build's default msoauth.conf: mbsync runs in a private mount
# namespace where a directory of the test is mounted over the default's
# directory (root only; skipped elsewhere). That configuration says
# auth = token, as the example asks: the password is the access token,
# sent as it is.
default_conf=$("$msoauth" --help | sed -n 's/.*(default: \(.*\))$/\1/p')
default_dir=$(dirname "$default_conf")
if ! command -v mbsync >/dev/null 2>&1; then
  echo "# mbsync skipped: not installed"
elif ! unshare -m true 2>/dev/null || [ ! -d "$default_dir" ]; then
  echo "# mbsync skipped: needs a mount namespace (root) and $default_dir"
else
  mkdir -p "$tmp/etc" "$HOME/Mail/contoso"
  printf '%s\n' "authority = $url" "tenant = contoso.com" \
    "client_id = 11111111-1111-1111-1111-111111111111" "ca_file = $ca" \
    "cache_dir = $tmp/cache" "auth = token" \
    >"$tmp/etc/$(basename "$default_conf")"
  sed -e "s|^Host .*|Host 127.0.0.1|" -e "s|^Port .*|Port $imaps|" \
    -e "s|^CertificateFile .*|CertificateFile $ca|" \
    "$src/conf/clients/mbsyncrc" >"$tmp/mbsyncrc"
  # A --enable-sanitizers build: mbsync is not instrumented, so the
  # plugin's ASan runtime is preloaded into it (it must come first), with
  # leak detection off for mbsync's own leaks.
  run=
  if [ "${MSOAUTH_SANITIZERS:-no}" = yes ]; then
    asan=$(ldd "$build/sasl_xoauth2/.libs/libxoauth2.so" |
      awk '/libasan/ { print $3 }')
    [ -n "$asan" ] &&
      run="env LD_PRELOAD=$asan ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0"
  fi
  SASL_PATH="$build/sasl_xoauth2/.libs" unshare -m sh -c \
    'mount --bind "$1" "$2" && exec $4 mbsync -V -c "$3" -a' sh \
    "$tmp/etc" "$default_dir" "$tmp/mbsyncrc" "$run" >"$tmp/mbsync.out" 2>&1
  status=$?
  check "mbsync syncs (mbsyncrc as shipped: AuthMechs XOAUTH2, PassCmd)" \
    test $status -eq 0
  [ $status -eq 0 ] || sed 's/^/# /' "$tmp/mbsync.out"
  grep -q "XOAUTH2" "$tmp/mbsync.out" &&
    ok "mbsync used XOAUTH2" || not_ok "mbsync used XOAUTH2"
  check "the local INBOX exists" test -d "$HOME/Mail/contoso/INBOX/cur"
fi

# A message with a subject of its own; whether the stand-in relayed it,
# and how the submission sessions authenticated.
message() { # message SUBJECT
  printf 'From: alice@contoso.com\r\nTo: bob@contoso.com\r\n'
  printf 'Subject: %s\r\n\r\nHello from the test.\r\n' "$1"
}
relayed() { # relayed SUBJECT: the file the stand-in kept, or nothing
  grep -l "^Subject: $1" "$tmp/standin/relayed/"*.eml 2>/dev/null | head -1
}
auth_log() { # auth_log MECH: sessions that authenticated with MECH in TLS
  c=$(grep -c "AUTH $1 tls=yes" "$tmp/standin/submission.log" 2>/dev/null)
  echo "${c:-0}"
}

# msmtp: conf/clients/msmtprc, accounts contoso (XOAUTH2) and bearer
# (OAUTHBEARER, which the stand-in's Dovecot offers).
if ! command -v msmtp >/dev/null 2>&1; then
  echo "# msmtp skipped: not installed"
else
  sed -e "s|^host .*|host 127.0.0.1|" -e "s|^port .*|port $submission|" \
    -e "s|^tls_trust_file .*|tls_trust_file $ca|" \
    "$src/conf/clients/msmtprc" >"$tmp/msmtprc"
  chmod 600 "$tmp/msmtprc"
  for account in contoso:XOAUTH2 bearer:OAUTHBEARER; do
    name=${account%%:*}
    mech=${account#*:}
    before=$(auth_log "$mech")
    message "msmtp $name" | msmtp -C "$tmp/msmtprc" -a "$name" \
      bob@contoso.com >"$tmp/msmtp.out" 2>&1
    status=$?
    check "msmtp -a $name sends (msmtprc as shipped)" test $status -eq 0
    [ $status -eq 0 ] || sed 's/^/# /' "$tmp/msmtp.out"
    check "msmtp -a $name: the stand-in relayed it" \
      test -n "$(relayed "msmtp $name")"
    check "msmtp -a $name authenticated with $mech inside TLS" \
      test "$(auth_log "$mech")" -gt "$before"
  done
fi

# neomutt in batch mode: conf/clients/neomuttrc; the message it composes
# is from the example's `from`, not from root@host.
if ! command -v neomutt >/dev/null 2>&1; then
  echo "# neomutt skipped: not installed"
else
  sed -e "s|smtp.office365.com:587|127.0.0.1:$submission|" \
    -e "s|outlook.office365.com:993|127.0.0.1:$imaps|" \
    -e "s|^set ssl_ca_certificates_file = .*|set ssl_ca_certificates_file = \"$ca\"|" \
    "$src/conf/clients/neomuttrc" >"$tmp/neomuttrc"
  before=$(auth_log XOAUTH2)
  echo "Hello from neomutt." | TERM=dumb neomutt -n -F "$tmp/neomuttrc" \
    -s "neomutt batch" bob@contoso.com >"$tmp/neomutt.out" 2>&1
  status=$?
  check "neomutt sends in batch mode (neomuttrc as shipped)" test $status -eq 0
  [ $status -eq 0 ] || sed 's/^/# /' "$tmp/neomutt.out"
  kept=$(relayed "neomutt batch")
  check "neomutt: the stand-in relayed it" test -n "$kept"
  check "neomutt: sent from alice@contoso.com" \
    grep -qi "^From: .*alice@contoso.com" "${kept:-/dev/null}"
  check "neomutt authenticated with XOAUTH2 inside TLS" \
    test "$(auth_log XOAUTH2)" -gt "$before"
  # neomutt runs its command for every connection: the cached token must
  # serve it, or every message sent is a token request.
  requests=$(emuctl --field total --default 0 counters)
  echo "Once more." | TERM=dumb neomutt -n -F "$tmp/neomuttrc" \
    -s "neomutt again" bob@contoso.com >"$tmp/neomutt.out" 2>&1
  check "neomutt: a second message is sent" test -n "$(relayed "neomutt again")"
  check "neomutt: ... with the cached token, no token request" \
    test "$(emuctl --field total --default 0 counters)" -eq "$requests"
fi

# Python: conf/clients/mail_oauth.py over IMAPS, POP3S and submission.
sed -e 's|^IMAP_HOST = .*|IMAP_HOST = "127.0.0.1"|' \
  -e "s|^IMAP_PORT = .*|IMAP_PORT = $imaps|" \
  -e 's|^POP_HOST = .*|POP_HOST = "127.0.0.1"|' \
  -e "s|^POP_PORT = .*|POP_PORT = $pop3s|" \
  -e 's|^SMTP_HOST = .*|SMTP_HOST = "127.0.0.1"|' \
  -e "s|^SMTP_PORT = .*|SMTP_PORT = $submission|" \
  -e "s|^CA_FILE = .*|CA_FILE = \"$ca\"|" \
  "$src/conf/clients/mail_oauth.py" >"$tmp/mail_oauth.py"
"$py" "$tmp/mail_oauth.py" imap >"$tmp/py.out" 2>&1
check "Python imaplib (mail_oauth.py imap)" test $? -eq 0
if grep -q "^INBOX: [0-9]* messages" "$tmp/py.out"; then
  ok "imaplib selected INBOX"
else
  not_ok "imaplib selected INBOX"
  sed 's/^/# /' "$tmp/py.out"
fi
"$py" "$tmp/mail_oauth.py" pop >"$tmp/py.out" 2>&1
check "Python poplib (mail_oauth.py pop)" test $? -eq 0
if grep -q "^[0-9]* messages, [0-9]* bytes" "$tmp/py.out"; then
  ok "poplib read the maildrop's size"
else
  not_ok "poplib read the maildrop's size"
  sed 's/^/# /' "$tmp/py.out"
fi
before=$(auth_log XOAUTH2)
message "python smtplib" | "$py" "$tmp/mail_oauth.py" smtp bob@contoso.com \
  >"$tmp/py.out" 2>&1
status=$?
check "Python smtplib (mail_oauth.py smtp)" test $status -eq 0
[ $status -eq 0 ] || sed 's/^/# /' "$tmp/py.out"
check "smtplib: the stand-in relayed it" test -n "$(relayed "python smtplib")"
check "smtplib authenticated with XOAUTH2 inside TLS" \
  test "$(auth_log XOAUTH2)" -gt "$before"

echo "1..$n"
[ $failed -eq 0 ]
