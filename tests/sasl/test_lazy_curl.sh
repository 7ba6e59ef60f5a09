#!/bin/sh
# test_lazy_curl.sh - libcurl is mapped by the plugin's first request, not
# when libsasl2 loads the plugin (issue 17, item 1): a libsasl2 client that
# serves a cached token, or has no configuration, never carries libcurl
# and its thirty libraries. A process that may still chroot (root, as
# Postfix's smtp is when it initialises the plugin) maps libcurl when the
# plugin is initialised, since it cannot be opened inside a chroot, and
# still starts it only for a request.
#
# tests/sasl/setuid_client (not setuid here) reports what it saw; it is not
# linked with libcurl. The unprivileged runs are nobody's when this runs as
# root (and the root runs are skipped otherwise).
set -u

srcdir=${MSOAUTH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MSOAUTH_BUILDDIR:-$srcdir}
python=${PYTHON3:-/usr/bin/python3}
plugin="$builddir/sasl_xoauth2/.libs/libxoauth2.so"
client="$builddir/tests/sasl/setuid_client"

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

[ -x "$python" ] || skip "python3 is not installed"
[ -f "$plugin" ] || fail "$plugin was not built"
[ -x "$client" ] || fail "$client was not built"
if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
  nobody_gid=$(id -g nobody 2>/dev/null) || skip "there is no user nobody"
  unprivileged() {
    setpriv --reuid=nobody --regid="$nobody_gid" --clear-groups \
      --inh-caps=-all --bounding-set=-all "$@"
  }
else
  unprivileged() { "$@"; }
fi

T=$(mktemp -d /tmp/msoauth-lazy-curl-XXXXXX) || exit 99
emu_pid=
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid"
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
chmod 755 "$T"
mkdir "$T/plugins" "$T/cache" "$T/cache-root"
cp "$plugin" "$T/plugins/"
[ "$(id -u)" = 0 ] && chown nobody "$T/cache"
chmod 700 "$T/cache" "$T/cache-root"

"$python" "$srcdir/tests/emulator/entra_emu.py" --state-dir "$T/emu" \
  --lifetime 300 &
emu_pid=$!
i=0
while [ ! -f "$T/emu/ready" ]; do
  i=$((i + 1))
  [ $i -lt 200 ] || fail "the emulator did not start"
  sleep 0.1
done
chmod -R a+rX "$T/emu"
url=$(cat "$T/emu/url")
grants() {
  "$python" "$srcdir/tests/emulator/emuctl.py" --state-dir "$T/emu" \
    --field by_grant/password --default 0 counters
}

# conf NAME CACHE_DIR: a configuration anyone may read (it holds no secret).
conf() {
  cat >"$T/$1" <<EOF2
authority = $url
tenant = contoso.com
client_id = 11111111-1111-1111-1111-111111111111
ca_file = $T/emu/ca.pem
cache_dir = $2
auth = password
retries = 0
EOF2
  chmod 644 "$T/$1"
}
conf user.conf "$T/cache"
conf root.conf "$T/cache-root"

# run WHO CONFIG EXPECTED WHAT
run() {
  who=$1 config=$2 expected=$3 what=$4
  if [ "$who" = user ]; then
    out=$(echo "Correct horse battery staple" |
      unprivileged "$client" "$T/plugins" "$config" alice@contoso.com)
  else
    out=$(echo "Correct horse battery staple" |
      "$client" "$T/plugins" "$config" alice@contoso.com)
  fi
  echo "# $what: $out"
  [ "$out" = "$expected" ] || fail "$what: expected \"$expected\""
}

# --- a client that cannot chroot: libcurl comes with the first request.
run user "$T/user.conf" \
  "result=1 mapped_at_init=no curl_at_init=no curl_started=yes mapped=yes response=yes" \
  "first login, empty cache"
[ "$(grants)" = 1 ] || fail "expected 1 password grant, the emulator saw $(grants)"
run user "$T/user.conf" \
  "result=1 mapped_at_init=no curl_at_init=no curl_started=no mapped=no response=yes" \
  "second login, cached token"
[ "$(grants)" = 1 ] || fail "the cached token was requested again"

if [ "$(id -u)" != 0 ]; then
  echo "PASS: libcurl mapped by the first request only (root runs skipped: not root)"
  exit 0
fi

# --- root may chroot: mapped at init, started only for a request.
run root "$T/root.conf" \
  "result=1 mapped_at_init=yes curl_at_init=no curl_started=yes mapped=yes response=yes" \
  "root, empty cache"
[ "$(grants)" = 2 ] || fail "expected 2 password grants, the emulator saw $(grants)"
run root "$T/root.conf" \
  "result=1 mapped_at_init=yes curl_at_init=no curl_started=no mapped=yes response=yes" \
  "root, cached token"
# --- no usable configuration: XOAUTH2 fails (SASL_CONFIGERR), and nothing
# is mapped.
run root "$T/missing.conf" \
  "result=-100 mapped_at_init=no curl_at_init=no curl_started=no mapped=no response=no" \
  "root, no configuration"
[ "$(grants)" = 2 ] || fail "the cached token was requested again"
echo "PASS: libcurl mapped by the first request, or at init by a process that may chroot"
exit 0
