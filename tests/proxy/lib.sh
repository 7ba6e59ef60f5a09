# tests/proxy/lib.sh - sourced by the proxy tests, tests/demo and the
# benchmark: the Entra ID emulator, the Dovecot stand-in for Exchange
# Online (tests/sasl/standin.py) and, in front of it, a second private
# Dovecot set up as conf/dovecot/10-exo-proxy.conf says: passdb
# checkpassword running the built `msoauth checkpassword`, login proxies
# to the stand-in's TLS ports (imaps, pop3s, submission with STARTTLS)
# with XOAUTH2.
#
#   proxy_skip_reason               prints why this machine cannot run it
#   proxy_start DIR [CONF_EXTRA]    starts all three under DIR; sets
#                                   P_IMAP P_POP3 P_SUBMISSION (the proxy),
#                                   S_IMAP ... (the stand-in), PROXY_LOG
#   proxy_stop                      stops them (DIR stays)
#   emuctl ARGS...                  tests/emulator/emuctl.py on DIR/emu
#   sh lib.sh --serve DIR [EXTRA]   all of it as a program, until SIGTERM
#
# Run as root, Dovecot's auth process runs as the dovecot user, as in
# production: msoauth.conf and cache_dir are made that user's. Otherwise
# everything runs as the caller. Needs MSOAUTH_SRCDIR, MSOAUTH_BUILDDIR
# (default .) and PYTHON3.

P_SRC=${MSOAUTH_SRCDIR:-.}
P_BUILD=${MSOAUTH_BUILDDIR:-.}
P_PY=${PYTHON3:-/usr/bin/python3}
P_MSOAUTH="$(cd "$P_BUILD" && pwd)/tools/msoauth"
P_DOVECOT=$(command -v dovecot || echo /usr/sbin/dovecot)
P_REPLY=/usr/lib/dovecot/checkpassword-reply
P_DIR=
p_emu_pid=
p_standin_pid=
p_proxy_pid=

proxy_skip_reason() {
  [ -x "$P_DOVECOT" ] || { echo "dovecot is not installed"; return; }
  [ -x "$P_REPLY" ] || { echo "no $P_REPLY (dovecot-core)"; return; }
  [ -x "$P_PY" ] || { echo "no $P_PY"; return; }
  [ -x "$P_MSOAUTH" ] || { echo "$P_MSOAUTH was not built"; return; }
  if [ "$(id -u)" = 0 ]; then
    getent passwd dovecot >/dev/null && getent passwd dovenull >/dev/null ||
      echo "the dovecot and dovenull users are missing"
  fi
}

emuctl() {
  "$P_PY" "$P_SRC/tests/emulator/emuctl.py" --state-dir "$P_DIR/emu" "$@"
}

p_wait_file() { # PATH SECONDS
  i=0
  while [ ! -e "$1" ]; do
    i=$((i + 1))
    [ $i -gt $(($2 * 10)) ] && return 1
    sleep 0.1
  done
}

p_port() { # the standin's port NAME
  tr ' ' '\n' <"$P_DIR/standin/ports" | sed -n "s/^$1=//p"
}

p_free_port() {
  "$P_PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# msoauth.conf: the default profile for the tests, [exo] as a production
# profile would be, with the backends on the stand-in.
p_write_msoauth_conf() { # EXTRA
  umask 077
  cat >"$P_DIR/msoauth.conf" <<EOF
authority = $(cat "$P_DIR/emu/url")
tenant = contoso.com
client_id = 11111111-1111-1111-1111-111111111111
ca_file = $P_DIR/emu/ca.pem
cache_dir = $P_DIR/cache
retries = 0
timeout = 5
connect_timeout = 2

[exo]
proxy_imap = 127.0.0.1:$S_IMAPS tls
proxy_pop3 = 127.0.0.1:$S_POP3S tls
proxy_submission = 127.0.0.1:$S_SUBMISSION starttls
$1
EOF
  umask 022
  mkdir -p "$P_DIR/cache"
  chmod 700 "$P_DIR/cache"
  if [ "$(id -u)" = 0 ]; then
    chown dovecot "$P_DIR/msoauth.conf" "$P_DIR/cache"
  fi
}

# The proxy's dovecot.conf: conf/dovecot/10-exo-proxy.conf as it is, with
# the emulator's certificates and CA, the built msoauth and the test's
# msoauth.conf, and loopback ports (imaps and pop3s off); before it, the
# private directories and users; after it, no auth penalty (the tests
# refuse logins on purpose).
p_write_proxy_conf() {
  if [ "$(id -u)" = 0 ]; then
    internal=dovecot login=dovenull
  else
    internal=$(id -un) login=$(id -un)
  fi
  cat >"$P_DIR/proxy/dovecot.conf" <<EOF
instance_name = msoauth-proxy-$$
base_dir = $P_DIR/proxy/run
state_dir = $P_DIR/proxy/state
log_path = $PROXY_LOG
listen = 127.0.0.1
default_internal_user = $internal
default_login_user = $login
auth_failure_delay = 0
EOF
  sed -e "s|^ssl_cert = <.*|ssl_cert = <$P_DIR/emu/server.crt|" \
    -e "s|^ssl_key = <.*|ssl_key = <$P_DIR/emu/server.key|" \
    -e "s|^ssl_ca = <.*|ssl_ca = <$P_DIR/emu/ca.pem|" \
    -e "s|args = /usr/bin/msoauth -p exo|args = $P_MSOAUTH -c $P_DIR/msoauth.conf -p exo|" \
    -e "s|port = 143\$|port = $P_IMAP|" -e "s|port = 110\$|port = $P_POP3|" \
    -e "s|port = 587\$|port = $P_SUBMISSION|" \
    -e "s|port = 993\$|port = 0|" -e "s|port = 995\$|port = 0|" \
    "$P_SRC/conf/dovecot/10-exo-proxy.conf" >>"$P_DIR/proxy/dovecot.conf"
  cat >>"$P_DIR/proxy/dovecot.conf" <<EOF
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
  # Every substitution took: the example still says what the test runs.
  for v in "ssl_cert = <$P_DIR/emu/server.crt" \
    "ssl_key = <$P_DIR/emu/server.key" "ssl_ca = <$P_DIR/emu/ca.pem" \
    "args = $P_MSOAUTH -c" "port = $P_IMAP" "port = $P_POP3" \
    "port = $P_SUBMISSION"; do
    grep -qF -- "$v" "$P_DIR/proxy/dovecot.conf" ||
      { echo "# 10-exo-proxy.conf changed: no $v"; return 1; }
  done
}

p_wait_greeting() { # PORT
  "$P_PY" - "$1" <<'EOF'
import socket, sys, time

for _ in range(150):
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2) as s:
            s.settimeout(5)
            sys.exit(0 if b"OK" in s.recv(512) else 3)
    except OSError:
        time.sleep(0.1)
sys.exit(4)
EOF
}

proxy_start() { # DIR [EXTRA msoauth.conf lines for [exo]]
  P_DIR=$1
  PROXY_LOG="$P_DIR/proxy/dovecot.log"
  mkdir -p "$P_DIR/proxy/run" "$P_DIR/proxy/state"
  chmod 755 "$P_DIR" "$P_DIR/proxy"
  "$P_PY" "$P_SRC/tests/emulator/entra_emu.py" --state-dir "$P_DIR/emu" \
    --lifetime 900 &
  p_emu_pid=$!
  p_wait_file "$P_DIR/emu/ready" 30 || { echo "# the emulator did not start"; return 1; }
  chmod 755 "$P_DIR/emu"
  "$P_PY" "$P_SRC/tests/sasl/standin.py" --dir "$P_DIR/standin" \
    --emu-dir "$P_DIR/emu" --lifetime 900 >"$P_DIR/standin.out" 2>&1 &
  p_standin_pid=$!
  p_wait_file "$P_DIR/standin/ready" 60 || {
    echo "# the Dovecot stand-in did not start"; cat "$P_DIR/standin.out"
    return 1; }
  S_IMAP=$(p_port imap) S_IMAPS=$(p_port imaps) S_POP3=$(p_port pop3)
  S_POP3S=$(p_port pop3s) S_SUBMISSION=$(p_port submission)
  p_write_msoauth_conf "${2:-}"
  # A port found free may be taken before Dovecot binds it: try again.
  for attempt in 1 2 3; do
    P_IMAP=$(p_free_port) P_POP3=$(p_free_port) P_SUBMISSION=$(p_free_port)
    p_write_proxy_conf || return 1
    "$P_DOVECOT" -F -c "$P_DIR/proxy/dovecot.conf" \
      >"$P_DIR/proxy/dovecot.out" 2>&1 &
    p_proxy_pid=$!
    p_wait_greeting "$P_IMAP" && p_wait_greeting "$P_POP3" && return 0
    echo "# attempt $attempt: the proxy does not answer"
    cat "$P_DIR/proxy/dovecot.out" "$PROXY_LOG" 2>/dev/null | tail -5
    kill "$p_proxy_pid" 2>/dev/null
    wait "$p_proxy_pid" 2>/dev/null
    p_proxy_pid=
  done
  return 1
}

proxy_stop() {
  for pid in "$p_proxy_pid" "$p_standin_pid" "$p_emu_pid"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  p_proxy_pid= p_standin_pid= p_emu_pid=
}

# For a test script: a temporary directory, removed with everything
# started at exit (PROXY_KEEP=1 keeps it), and its TAP lines.
proxy_test_begin() { # NAME
  tmp=$(mktemp -d "/tmp/msoauth-$1-XXXXXX")
  failed=0
  n=0
  trap proxy_test_end EXIT
  trap 'exit 1' INT TERM
}

proxy_test_end() {
  proxy_stop
  if [ -n "${PROXY_KEEP:-}" ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }

# Run as a program (the benchmark): starts everything under DIR, writes
# DIR/proxy-ports ("imap=N pop3=N submission=N") and stays until SIGTERM.
if [ "${1:-}" = --serve ]; then
  trap 'proxy_stop; exit 0' TERM INT
  proxy_start "$2" "${3:-}" || { proxy_stop; exit 1; }
  echo "imap=$P_IMAP pop3=$P_POP3 submission=$P_SUBMISSION" \
    >"$2/proxy-ports.tmp" && mv "$2/proxy-ports.tmp" "$2/proxy-ports"
  while :; do sleep 1; done
fi
