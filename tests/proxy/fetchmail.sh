#!/bin/sh
# tests/proxy/fetchmail.sh - fetchmail without OAuth (Debian 12's 6.4 has
# none) fetches mail from "Exchange Online" with the user's password,
# through the Dovecot proxy of `msoauth checkpassword` (tests/proxy/lib.sh),
# over IMAP and POP3 with STARTTLS, with conf/clients/fetchmailrc.
# Exit status 0 when all pass, 77 (skipped) without Dovecot or fetchmail.
set -u

src=${MSOAUTH_SRCDIR:-.}
. "$src/tests/proxy/lib.sh"

alice_pw='Correct horse battery staple'
client="$P_PY $src/tests/proxy/mailclient.py"

reason=$(proxy_skip_reason)
[ -z "$reason" ] || { echo "# $reason: skipped"; exit 77; }
command -v fetchmail >/dev/null 2>&1 || { echo "# no fetchmail: skipped"; exit 77; }
[ "${MSOAUTH_SANITIZERS:-no}" = yes ] &&
  { echo "# a --enable-sanitizers build: skipped (see exo_proxy.sh)"; exit 77; }

proxy_test_begin fetchmail

proxy_start "$tmp" || { echo "# the proxy did not start"; exit 1; }
fetchmail --version 2>/dev/null | head -1 | sed 's/^/# /'

# One message in alice's mailbox at "Exchange", put there through the proxy.
out=$($client imap "$P_IMAP" alice@contoso.com "$alice_pw" --append)
case $out in
"ok exists=1") ok "a message for alice at the stand-in" ;;
*) not_ok "a message for alice at the stand-in: $out" ;;
esac

# conf/clients/fetchmailrc as it is, pointed at the proxy's loopback port,
# with the test CA (the proxy presents the emulator's certificate, for
# localhost), one run instead of a daemon, and the mail into a file.
mkdir -p "$tmp/fm" "$tmp/got"
fetch() { # PROTO PORT PASSWORD
  umask 077
  sed -e "s|^set daemon 300|set no syslog|" \
    -e "s|^poll mail.contoso.com protocol IMAP|poll 127.0.0.1 service $2 protocol $1|" \
    -e "s| is \"alice\" here||" \
    -e "s|password \"her Entra ID password\"|password \"$3\"|" \
    -e "s|sslproto TLS1.2+ sslcertck\$|& sslcertfile \"$tmp/emu/ca.pem\" sslcommonname localhost|" \
    -e "s|^  keep\$|  keep mda \"/bin/sh -c 'cat >$tmp/got/$1.eml'\"|" \
    "$src/conf/clients/fetchmailrc" >"$tmp/fm/fetchmailrc"
  umask 022
  grep -q "service $2 protocol $1" "$tmp/fm/fetchmailrc" &&
    grep -q "sslcommonname localhost" "$tmp/fm/fetchmailrc" &&
    grep -q "keep mda" "$tmp/fm/fetchmailrc" ||
    echo "# conf/clients/fetchmailrc changed: the test cannot use it"
  rm -f "$tmp/got/$1.eml"
  FETCHMAILHOME="$tmp/fm" HOME="$tmp/fm" timeout 60 \
    fetchmail -f "$tmp/fm/fetchmailrc" --nodetach -v -a \
    >"$tmp/fm/$1.out" 2>&1
}

for proto in IMAP POP3; do
  port=$P_IMAP
  [ $proto = POP3 ] && port=$P_POP3
  fetch $proto "$port" "$alice_pw"
  status=$?
  if [ $status -eq 0 ] &&
    grep -qs "Subject: through the proxy" "$tmp/got/$proto.eml"; then
    ok "fetchmail fetches alice's message over $proto with her password"
  else
    not_ok "fetchmail fetches alice's message over $proto (status $status)"
    sed 's/^/#   /' "$tmp/fm/$proto.out" | tail -20
  fi
  if grep -q "upgrade to TLS succeeded" "$tmp/fm/$proto.out"; then
    ok "... over TLS (STARTTLS, certificate checked)"
  else
    not_ok "... over TLS (STARTTLS, certificate checked)"
  fi
done
requests=$(emuctl --field total --default 0 counters)
[ "$requests" = 1 ] && ok "all of it on one token request" ||
  not_ok "all of it on one token request (got $requests)"

fetch IMAP "$P_IMAP" 'not her password'
status=$?
# fetchmail: 3 = authentication failed.
[ $status -eq 3 ] && ok "a wrong password: fetchmail reports an authentication failure" ||
  { not_ok "a wrong password: fetchmail exits 3 (got $status)";
    sed 's/^/#   /' "$tmp/fm/IMAP.out" | tail -10; }

echo "1..$n"
[ $failed -eq 0 ]
