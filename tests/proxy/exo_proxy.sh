#!/bin/sh
# tests/proxy/exo_proxy.sh - Dovecot in front of Exchange Online with
# `msoauth checkpassword`, end to end: password-only clients log in to a
# private proxy Dovecot (conf/dovecot/10-exo-proxy.conf), which gets their
# token from msoauth and proxies them with XOAUTH2 to the Dovecot stand-in
# for Exchange Online (tests/sasl/standin.py, which checks each token with
# the Entra ID emulator). See tests/proxy/lib.sh.
# Exit status 0 when all pass, 77 (skipped) without Dovecot.
set -u

src=${MSOAUTH_SRCDIR:-.}
. "$src/tests/proxy/lib.sh"

alice_pw='Correct horse battery staple'
bob_pw=$(printf 'p&ss=w+rd%%;'"'"'" \303\274n\303\257')
client="$P_PY $src/tests/proxy/mailclient.py"

reason=$(proxy_skip_reason)
[ -z "$reason" ] || { echo "# $reason: skipped"; exit 77; }
# Dovecot passes no environment on: an ASan build of msoauth would run
# without its options, and LeakSanitizer cannot stop the world of a
# process Dovecot made undumpable. test_checkpassword covers the command
# under the sanitizers.
[ "${MSOAUTH_SANITIZERS:-no}" = yes ] &&
  { echo "# a --enable-sanitizers build: skipped"; exit 77; }

proxy_test_begin proxy
check() { # DESCRIPTION COMMAND...
  d=$1; shift
  if "$@"; then ok "$d"; else not_ok "$d"; fi
}
# OUT must hold TEXT (grep -F), else it is shown.
has() { # DESCRIPTION OUT TEXT
  if printf '%s\n' "$2" | grep -qF -- "$3"; then ok "$1"; else
    not_ok "$1"; printf '%s\n' "$2" | sed 's/^/#   /'; fi
}
requests() { emuctl --field total --default 0 counters; }
requests_of() { emuctl --field "by_user/$1" --default 0 counters; }
same() { # DESCRIPTION EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected $2, got $3)"; fi
}

proxy_start "$tmp" "default_domain = contoso.com" || {
  echo "# the proxy did not start"; exit 1; }
echo "# proxy: imap=$P_IMAP pop3=$P_POP3 submission=$P_SUBMISSION"

# ------------------------------------------------------------ a good password
out=$($client imap "$P_IMAP" alice@contoso.com "$alice_pw" --append)
has "IMAP through the proxy: LOGIN, LIST, APPEND, SELECT" "$out" "ok exists=1"
out=$($client pop3 "$P_POP3" alice@contoso.com "$alice_pw")
has "POP3 through the proxy: STAT, RETR" "$out" \
  "ok messages=1 subject=through the proxy"
out=$($client submission "$P_SUBMISSION" alice@contoso.com "$alice_pw" \
  bob@contoso.com)
has "submission through the proxy: AUTH, the message accepted" "$out" "ok sent"
check "the message arrives behind the stand-in" \
  grep -qs "Subject: through the proxy" "$tmp"/standin/relayed/*.eml
same "three logins of alice, one token request" 1 "$(requests)"
n_x=$(grep -c 'Login: user=<alice@contoso.com>, method=XOAUTH2' \
  "$tmp/standin/dovecot.log")
same "the stand-in saw three XOAUTH2 logins of alice" 3 "$n_x"
if [ "$(id -u)" = 0 ]; then
  owner=$(stat -c %U "$tmp"/cache/* | sort -u)
  same "checkpassword ran as Dovecot's auth user (its cache entry)" dovecot \
    "$owner"
fi

# ------------------------------------------------------------ a wrong password
emuctl reset >/dev/null
out=$($client imap "$P_IMAP" alice@contoso.com 'stale password')
has "a wrong password over IMAP: AUTHENTICATIONFAILED" "$out" \
  "[AUTHENTICATIONFAILED]"
same "... after one request" 1 "$(requests)"
out=$($client pop3 "$P_POP3" alice@contoso.com 'stale password')
has "the same wrong password over POP3: -ERR" "$out" "-ERR"
out=$($client submission "$P_SUBMISSION" alice@contoso.com 'stale password' \
  bob@contoso.com)
has "the same wrong password over submission: 535" "$out" "535"
same "the same wrong password again makes no request (failure_cache)" 1 \
  "$(requests)"
check "the proxy's log says why, with the AADSTS code" \
  grep -q "alice@contoso.com: refused: AADSTS50126" "$PROXY_LOG"
check "... and that the repeated password was not sent again" \
  grep -q "alice@contoso.com: refused: .*not sent again" "$PROXY_LOG"
out=$($client imap "$P_IMAP" alice@contoso.com "$alice_pw")
has "the right password still works (served from the cache)" "$out" "ok exists"
same "... without a request" 1 "$(requests)"

# ------------------------------------------------------------ ten logins
emuctl reset >/dev/null
out=$($client logins imap "$P_IMAP" 10 bob@contoso.com "$bob_pw")
has "ten IMAP logins of bob (a password with & = + % ; ' \" and UTF-8)" \
  "$out" "ok 10"
same "ten logins of one user make one token request in all" 1 \
  "$(requests_of bob@contoso.com)"

# ------------------------------------------------------------ identity rules
emuctl reset >/dev/null
out=$($client imap "$P_IMAP" mallory@woodgrove.com Password1!)
has "a foreign domain is refused" "$out" "[AUTHENTICATIONFAILED]"
same "... without a request" 0 "$(requests)"
check "... and the log says which domain" \
  grep -q "mallory@woodgrove.com: refused: .*woodgrove.com" "$PROXY_LOG"
out=$($client imap "$P_IMAP" asmith@contoso.com "$alice_pw")
has "an alias is refused" "$out" "[AUTHENTICATIONFAILED]"
check "... and the log names the primary address" \
  grep -q "asmith@contoso.com: refused: .*alice@contoso.com" "$PROXY_LOG"
out=$($client imap "$P_IMAP" alice "$alice_pw")
has "a bare name with default_domain logs in" "$out" "ok exists"
check "... as the full address at the backend" \
  grep -q 'Login: user=<alice@contoso.com>, method=XOAUTH2' \
  "$tmp/standin/dovecot.log"
check "... while the proxy keeps the name typed" \
  grep -q 'proxy(alice,.*Started proxying' "$PROXY_LOG"

# ------------------------------------------------------------ unreachable
emuctl reset >/dev/null
emuctl fault '{"kind": "status", "status": 503, "count": -1}' >/dev/null
out=$($client imap "$P_IMAP" user7@contoso.com 'Passw0rd!')
has "the platform unreachable: a temporary failure (UNAVAILABLE)" "$out" \
  "[UNAVAILABLE]"
case $out in
*AUTHENTICATIONFAILED*) not_ok "... not AUTHENTICATIONFAILED" ;;
*) ok "... not AUTHENTICATIONFAILED" ;;
esac
out=$($client imap "$P_IMAP" alice@contoso.com "$alice_pw")
has "a cached token still serves alice meanwhile" "$out" "ok exists"
emuctl reset >/dev/null
out=$($client imap "$P_IMAP" user7@contoso.com 'Passw0rd!')
has "the platform back: the same login works" "$out" "ok exists"

# ------------------------------------------------------------ the log
# No token, password or piece of one in what the proxy logged.
emuctl get /_emu/issued >"$tmp/issued.json"
if "$P_PY" - "$tmp/issued.json" "$PROXY_LOG" "$tmp/proxy/dovecot.out" \
  "$alice_pw" "$bob_pw" 'stale password' 'Passw0rd!' <<'EOF'
import json, sys

secrets = json.load(open(sys.argv[1]))["secrets"] + sys.argv[4:]
text = b"".join(open(p, "rb").read() for p in sys.argv[2:4])
hits = 0
for s in secrets:
    b = s.encode()
    pieces = [b] if len(b) <= 16 else [b[i:i + 16] for i in range(len(b) - 15)]
    if any(p in text for p in pieces):
        hits += 1
        print("# a secret of %d bytes is in the proxy's log" % len(b))
print("# %d secrets looked for" % len(secrets))
sys.exit(1 if hits or len(secrets) < 8 else 0)
EOF
then ok "no token or password in the proxy's log"; else
  not_ok "no token or password in the proxy's log"; fi

[ $failed -eq 0 ] || sed 's/^/# /' "$PROXY_LOG" | tail -40
echo "1..$n"
[ $failed -eq 0 ]
