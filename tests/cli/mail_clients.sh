#!/bin/sh
# tests/cli/mail_clients.sh - `msoauth token` as mail clients use it, against
# the Entra ID emulator and the SASL tests' Dovecot stand-in
# (tests/sasl/standin.py):
#  - curl --oauth2-bearer "$(msoauth token USER)" over IMAP (XOAUTH2);
#  - mbsync with AuthMechs XOAUTH2 and PassCmd "msoauth token USER", through
#    the built SASL plugin (sasl_xoauth2/.libs) with auth = token.
# Exit status 0 when all pass, 77 (skipped) without curl or Dovecot.
set -u

src=${MSOAUTH_SRCDIR:-.}
build=${MSOAUTH_BUILDDIR:-.}
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
imap=$(tr ' ' '\n' <"$tmp/standin/ports" | sed -n 's/^imap=//p')

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

# ------------------------------------------------------------ mbsync
# mbsync hands what PassCmd prints to libsasl2, which loads the built plugin
# (SASL_PATH). mbsync cannot set the plugin's xoauth2_config, so the plugin
# reads this build's default msoauth.conf: mbsync runs in a private mount
# namespace where a directory of the test is mounted over the default's
# directory (root only; skipped elsewhere). That configuration says
# auth = token: the password is the access token, sent as it is.
default_conf=$("$msoauth" --help | sed -n 's/.*(default: \(.*\))$/\1/p')
default_dir=$(dirname "$default_conf")
if ! command -v mbsync >/dev/null 2>&1; then
  echo "# mbsync skipped: not installed"
elif ! unshare -m true 2>/dev/null || [ ! -d "$default_dir" ]; then
  echo "# mbsync skipped: needs a mount namespace (root) and $default_dir"
else
  mkdir -p "$tmp/etc" "$tmp/maildir"
  cat >"$tmp/etc/$(basename "$default_conf")" <<EOF
authority = $url
tenant = contoso.com
client_id = 11111111-1111-1111-1111-111111111111
ca_file = $tmp/emu/ca.pem
cache_dir = $tmp/cache
auth = token
EOF
  cat >"$tmp/mbsyncrc" <<EOF
IMAPAccount alice
Host 127.0.0.1
Port $imap
SSLType None
AuthMechs XOAUTH2
User alice@contoso.com
PassCmd "$msoauth -c $tmp/msoauth.conf --password-file $tmp/alice-password token alice@contoso.com"

IMAPStore alice-remote
Account alice

MaildirStore alice-local
Path $tmp/maildir/
Inbox $tmp/maildir/INBOX

Channel alice
Far :alice-remote:
Near :alice-local:
Patterns INBOX
Create Near
SyncState *
EOF
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
  check "mbsync syncs INBOX (AuthMechs XOAUTH2, PassCmd msoauth token)" \
    test $status -eq 0
  [ $status -eq 0 ] || sed 's/^/# /' "$tmp/mbsync.out"
  grep -q "XOAUTH2" "$tmp/mbsync.out" &&
    ok "mbsync used XOAUTH2" || not_ok "mbsync used XOAUTH2"
  check "the local INBOX exists" test -d "$tmp/maildir/INBOX/cur"
fi

echo "1..$n"
[ $failed -eq 0 ]
