#!/bin/sh
# test_setuid.sh - the SASL plugin in a setuid-root libsasl2 client run by
# nobody (issue 12, item 1): a copy of setuid_client, made setuid root,
# loads the plugin with SSLKEYLOGFILE pointing into a directory only root
# may write, under umask 000, with proxy variables set. libcurl must not
# start when libsasl2 loads the plugin (a setuid-root process may chroot,
# so the plugin maps it then: tests/sasl/test_lazy_curl.sh), no keylog file
# may appear, and the XOAUTH2 initial response still carries a token from
# the emulator.
#
# Needs root and a file system honouring setuid under /tmp; skipped (exit
# 77) otherwise.
set -u

srcdir=${MSOAUTH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MSOAUTH_BUILDDIR:-$srcdir}
python=${PYTHON3:-/usr/bin/python3}
plugin="$builddir/sasl_xoauth2/.libs/libxoauth2.so"
client="$builddir/tests/sasl/setuid_client"

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root (a setuid copy)"
[ "${MSOAUTH_SANITIZERS:-no}" = yes ] && skip "a --enable-sanitizers build"
[ -x "$python" ] || skip "python3 is not installed"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
[ -f "$plugin" ] || fail "$plugin was not built"
[ -x "$client" ] || fail "$client was not built"
nobody_gid=$(id -g nobody 2>/dev/null) || skip "there is no user nobody"

T=$(mktemp -d /tmp/msoauth-sasl-setuid-XXXXXX) || exit 99
emu_pid=
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid"
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
chmod 755 "$T"
case ",$(findmnt -n -o OPTIONS --target "$T" 2>/dev/null)," in
*,nosuid,*) skip "$T is on a nosuid file system" ;;
esac
# Only this plugin in the plugin directory; the setuid copy where only
# root and nobody's group may go.
mkdir "$T/plugins" "$T/bin"
cp "$plugin" "$T/plugins/"
chown "root:$nobody_gid" "$T/bin"
chmod 750 "$T/bin"
cp "$client" "$T/bin/client"
chown root:root "$T/bin/client"
chmod 4755 "$T/bin/client"

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
counter() {
  "$python" "$srcdir/tests/emulator/emuctl.py" --state-dir "$T/emu" \
    --field "$1" --default 0 counters
}

umask 077
cat >"$T/msoauth.conf" <<EOF2
authority = $url
tenant = contoso.com
client_id = 11111111-1111-1111-1111-111111111111
ca_file = $T/emu/ca.pem
cache_dir = $T/cache
auth = password
retries = 0
failure_cache = 0
EOF2
umask 022

out=$(echo "Correct horse battery staple" | (
  umask 000
  exec env -i PATH=/usr/bin:/bin SSLKEYLOGFILE="$T/keylog" \
    https_proxy=http://127.0.0.1:1 ALL_PROXY=http://127.0.0.1:1 \
    setpriv --reuid=nobody --regid="$nobody_gid" --clear-groups \
    "$T/bin/client" "$T/plugins" "$T/msoauth.conf" alice@contoso.com
))
echo "# client: $out"
case "$out" in
# SASL_CONTINUE
"result=1 mapped_at_init=yes curl_at_init=no curl_started=yes mapped=yes response=yes") ;;
*) fail "the setuid client did not get its token as expected: $out" ;;
esac
[ -e "$T/keylog" ] && fail "SSLKEYLOGFILE was created: $(ls -l "$T/keylog")"
n=$(counter by_grant/password)
[ "$n" = 1 ] || fail "expected 1 password grant, the emulator saw $n"
echo "PASS: setuid SASL client as nobody: libcurl not started at plugin load, no keylog"
exit 0
