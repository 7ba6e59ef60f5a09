#!/bin/sh
# test_dovecot.sh - pam_msoauth end to end through a real Dovecot (Debian
# dovecot-imapd): `passdb { driver = pam }` with a service file naming the
# built module, IMAP LOGIN on a loopback port, the Entra ID emulator behind.
#
# It needs root: Dovecot's auth worker uses the real libpam, which reads
# /etc/pam.d; the test writes a uniquely named service file there and
# removes it. Without root, dovecot or python3 it is skipped (exit 77).
set -u

srcdir=${MSOAUTH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MSOAUTH_BUILDDIR:-$srcdir}
python=${PYTHON3:-/usr/bin/python3}
module="$builddir/pam_msoauth/.libs/pam_msoauth.so"
dovecot=$(command -v dovecot || echo /usr/sbin/dovecot)

skip() { echo "SKIP: $*"; exit 77; }
fail() {
  echo "FAIL: $*"
  if [ -f "$T/dovecot.log" ]; then
    echo "--- dovecot.log"
    tail -40 "$T/dovecot.log"
  fi
  exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root (writes a service file in /etc/pam.d)"
# Dovecot's auth worker is not instrumented and passes only the variables
# of import_environment on: it cannot load an ASan build of the module.
# The plain build runs this test; test_pam and pam_loop check the module
# under the sanitizers.
[ "${MSOAUTH_SANITIZERS:-no}" = yes ] &&
  skip "a --enable-sanitizers build (Dovecot cannot load it)"
[ -x "$dovecot" ] || skip "dovecot is not installed (dovecot-imapd)"
[ -x "$python" ] || skip "python3 is not installed"
[ -f "$module" ] || fail "$module was not built"
[ -d /etc/pam.d ] && [ -w /etc/pam.d ] || skip "/etc/pam.d is not writable"
getent passwd dovenull >/dev/null && getent passwd dovecot >/dev/null ||
  skip "the dovecot and dovenull users are missing"

T=$(mktemp -d /tmp/msoauth-dovecot-XXXXXX) || exit 99
service="msoauth-test-$$"
emu_pid=
dovecot_pid=
cleanup() {
  [ -n "$dovecot_pid" ] && kill "$dovecot_pid" 2>/dev/null &&
    wait "$dovecot_pid"
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid"
  rm -f "/etc/pam.d/$service"
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
chmod 755 "$T"

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

# --- pam_msoauth's configuration and PAM service
umask 077
cat >"$T/msoauth.conf" <<EOF
authority = $url
tenant = contoso.com
client_id = 11111111-1111-1111-1111-111111111111
ca_file = $T/emu/ca.pem
cache_dir = $T/cache
retries = 0
EOF
umask 022
cat >"/etc/pam.d/$service" <<EOF
# written by msoauth's test_dovecot.sh; removed when it ends
auth    required $module config=$T/msoauth.conf
account required $module config=$T/msoauth.conf
EOF

# --- Dovecot, on a free loopback port, in its own directories
mkdir -p "$T/run" "$T/state" "$T/home/alice" "$T/mail"
chown 65534:65534 "$T/home/alice"
chmod 1777 "$T/mail"
greeting="msoauth-test-$$ ready"

write_dovecot_conf() {
  cat >"$T/dovecot.conf" <<EOF
base_dir = $T/run
state_dir = $T/state
instance_name = msoauth-test-$$
log_path = $T/dovecot.log
login_greeting = $greeting
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:$T/mail/%n
passdb {
  driver = pam
  args = $service
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$T/home/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $1
  }
  inet_listener imaps {
    port = 0
  }
}
service auth-worker {
  user = root
}
EOF
}

# Waits until our Dovecot (its greeting) answers on port $1.
wait_greeting() {
  "$python" - "$1" "$greeting" <<'EOF'
import socket, sys, time

for _ in range(100):
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2) as s:
            s.settimeout(5)
            sys.exit(0 if sys.argv[2].encode() in s.recv(512) else 3)
    except OSError:
        time.sleep(0.1)
sys.exit(4)
EOF
}

# A port found free may be taken before Dovecot binds it: try a few.
for attempt in 1 2 3; do
  port=$("$python" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
  write_dovecot_conf "$port"
  "$dovecot" -F -c "$T/dovecot.conf" &
  dovecot_pid=$!
  wait_greeting "$port" && break
  echo "# attempt $attempt: Dovecot does not answer on port $port"
  kill "$dovecot_pid" 2>/dev/null
  wait "$dovecot_pid"
  dovecot_pid=
done
[ -n "$dovecot_pid" ] || fail "Dovecot did not start on a free port"

# --- IMAP LOGIN
if ! "$python" - "$port" >"$T/imap.out" 2>&1 <<'EOF'
import imaplib, sys

port = int(sys.argv[1])

def login(user, password):
    imap = imaplib.IMAP4("127.0.0.1", port)
    if b"msoauth-test-" not in imap.welcome:
        sys.exit("another server answers on port %d" % port)
    try:
        imap.login(user, password)
        imap.select("INBOX")
        imap.logout()
        return True
    except imaplib.IMAP4.error as e:
        print("refused:", e)
        return False

if not login("alice@contoso.com", "Correct horse battery staple"):
    sys.exit("alice's password was refused")
if login("alice@contoso.com", "not her password"):
    sys.exit("a wrong password was accepted")
if login("eve@fabrikam.com", "whatever"):
    sys.exit("a refused domain was accepted")
print("ok")
EOF
then
  fail "IMAP: $(cat "$T/imap.out")"
fi

# --- what the emulator saw: one ROPC grant per password, none for eve
n=$(emuctl --field by_grant/password --default 0 counters)
[ "$n" = 2 ] || fail "expected 2 password grants, the emulator saw $n"
n=$(emuctl --field by_user/alice@contoso.com --default 0 counters)
[ "$n" = 2 ] || fail "expected 2 requests for alice, the emulator saw $n"
n=$(emuctl --field total --default 0 counters)
[ "$n" = 2 ] || fail "expected 2 requests in all, the emulator saw $n"
grep -q 'imap-login: Info: Login: user=<alice@contoso.com>' "$T/dovecot.log" ||
  fail "dovecot.log has no login of alice"
grep -q 'pam(alice@contoso.com.*Authentication failure' "$T/dovecot.log" ||
  fail "dovecot.log has no PAM failure for the wrong password"
grep -q 'pam(eve@fabrikam.com.*unknown user' "$T/dovecot.log" ||
  fail "dovecot.log has no unknown user (PAM_USER_UNKNOWN) for eve"
# --- canonical_user: Dovecot takes PAM_USER back after PAM as the login's
# user name (%u); libpam reads the service file again at each login.
imap_login() {
  "$python" - "$port" "$1" <<'EOF'
import imaplib, sys

imap = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
imap.login(sys.argv[2], "Correct horse battery staple")
imap.select("INBOX")
imap.logout()
EOF
}
for canonical in no yes; do
  cat >"/etc/pam.d/$service" <<EOF
# written by msoauth's test_dovecot.sh; removed when it ends
auth    required $module config=$T/msoauth.conf default_domain=contoso.com canonical_user=$canonical
account required $module config=$T/msoauth.conf
EOF
  imap_login alice >"$T/imap.out" 2>&1 ||
    fail "IMAP as alice, canonical_user=$canonical: $(cat "$T/imap.out")"
done
grep -q 'imap-login: Info: Login: user=<alice>' "$T/dovecot.log" ||
  fail "canonical_user=no: Dovecot's user is not the name as typed"
n=$(grep -c 'imap-login: Info: Login: user=<alice@contoso.com>' "$T/dovecot.log")
[ "$n" = 2 ] ||
  fail "canonical_user=yes: Dovecot's user is not alice@contoso.com"
# The mail process runs for that user (%u) too.
grep -q 'imap(alice)<' "$T/dovecot.log" ||
  fail "canonical_user=no: the mail process is not alice's"
n=$(emuctl --field total --default 0 counters)
[ "$n" = 4 ] || fail "expected 4 requests in all, the emulator saw $n"

grep -E 'imap-login|auth' "$T/dovecot.log" | sed 's/^/# /'
echo "PASS: Dovecot IMAP LOGIN through pam_msoauth"
exit 0
