#!/bin/bash
# Self test of the Entra ID emulator: starts it, exercises every endpoint,
# grant, error, fault kind and control call with curl, and checks the answers
# with /usr/bin/python3 (no jq).  Prints "N passed, N failed"; exits 1 on any
# failure.  Usage: tests/emulator/selftest.sh [-v]
# automake runs it with $(SHELL), i.e. sh: re-run under bash
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON3:-/usr/bin/python3}
case $PY in ""|no) PY=/usr/bin/python3 ;; esac
EMU="$HERE/entra_emu.py"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/entra-emu-selftest.XXXXXX")
STATE=$WORK/state
B=$WORK/body
H=$WORK/headers
VERBOSE=${1:-}
PASS=0
FAIL=0
EMU_PIDS=()

cleanup() {
    local pid
    for pid in "${EMU_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${EMU_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() { PASS=$((PASS + 1)); echo "ok - $1"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && echo "$2" | sed 's/^/    /'; }

# launch_emu DIR ARGS... : start an emulator in the background; sets EMU_PID
launch_emu() {
    local dir=$1
    shift
    "$PY" "$EMU" --state-dir "$dir" "$@" 2>>"$WORK/emu-stderr.log" &
    EMU_PID=$!
    EMU_PIDS+=("$EMU_PID")
}

# wait_emu DIR PID : wait (10 s at most) for DIR/ready; false if it never comes
wait_emu() {
    local i
    for i in $(seq 1 500); do
        [ -e "$1/ready" ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.02
    done
    return 1
}

# ---------------------------------------------------------------- helpers
cat >"$WORK/check.py" <<'PYEOF'
import base64, json, os, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

body_path, status, header_path, name, expr = sys.argv[1:6]
expr = " ".join(line.strip() for line in expr.splitlines())
raw = open(body_path, "rb").read()
status = int(status or 0)
try:
    j = json.loads(raw)
except ValueError:
    j = None
headers = {}
for line in open(header_path, encoding="latin-1").read().splitlines():
    if ":" in line:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
env = os.environ

def hdr(name):
    return headers.get(name.lower())

def _part(tok, i):
    p = tok.split(".")[i]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))

def claims(tok):
    return _part(tok, 1)

def header(tok):
    return _part(tok, 0)

def verify(tok, jwks_path):
    """True when tok is signed by the key of the JWKS whose kid the token names."""
    keys = json.load(open(jwks_path))["keys"]
    key = [k for k in keys if k["kid"] == header(tok)["kid"]][0]
    num = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")
    pub = rsa.RSAPublicNumbers(num(key["e"]), num(key["n"])).public_key()
    h, c, s = tok.split(".")
    pub.verify(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), f"{h}.{c}".encode(),
               padding.PKCS1v15(), hashes.SHA256())
    return True

try:
    ok = eval(expr)
except Exception as exc:
    ok = False
    print(f"    exception: {exc!r}", file=sys.stderr)
if not ok:
    print(f"    check: {expr}\n    status: {status}\n    body: {raw[:700]!r}", file=sys.stderr)
sys.exit(0 if ok else 1)
PYEOF

cat >"$WORK/assertion.py" <<'PYEOF'
# builds a client assertion JWT from the emulator's generated client key
import argparse, base64, hashlib, hmac, json, time, uuid
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

p = argparse.ArgumentParser()
p.add_argument("--state"); p.add_argument("--client"); p.add_argument("--aud")
p.add_argument("--alg", default="RS256")
p.add_argument("--thumb", default="s256", choices=["s256", "sha1", "wrong", "none"])
p.add_argument("--exp", type=int, default=300); p.add_argument("--nbf", type=int, default=-10)
p.add_argument("--iss"); p.add_argument("--jti"); p.add_argument("--no-jti", action="store_true")
p.add_argument("--bad-sig", action="store_true")
a = p.parse_args()
base = f"{a.state}/client-{a.client}"
key = serialization.load_pem_private_key(open(base + ".key", "rb").read(), None)
der = x509.load_pem_x509_certificate(open(base + ".crt", "rb").read()).public_bytes(
    serialization.Encoding.DER)
head = {"alg": a.alg, "typ": "JWT"}
if a.thumb == "s256":
    head["x5t#S256"] = b64(hashlib.sha256(der).digest())
elif a.thumb == "sha1":
    head["x5t"] = b64(hashlib.sha1(der).digest())
elif a.thumb == "wrong":
    head["x5t#S256"] = b64(b"\x01" * 32)
now = int(time.time())
claims = {"aud": a.aud, "iss": a.iss or a.client, "sub": a.iss or a.client,
          "iat": now, "nbf": now + a.nbf, "exp": now + a.exp}
if not a.no_jti:
    claims["jti"] = a.jti or str(uuid.uuid4())
si = (b64(json.dumps(head).encode()) + "." + b64(json.dumps(claims).encode())).encode()
if a.alg == "RS256":
    sig = key.sign(si, padding.PKCS1v15(), hashes.SHA256())
elif a.alg == "PS256":
    sig = key.sign(si, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                   hashes.SHA256())
else:
    sig = hmac.new(b"secret", si, "sha256").digest()
if a.bad_sig:
    sig = bytes([sig[0] ^ 0xFF]) + sig[1:]
print(si.decode() + "." + b64(sig))
PYEOF

ctl() { "$PY" "$HERE/emuctl.py" --state-dir "$STATE" "$@"; }

# do_curl ARGS... : one request; STATUS, CURL_RC, body in $B, headers in $H
do_curl() {
    : >"$B"
    : >"$H"
    STATUS=$(curl -sS --max-time 20 --cacert "$STATE/ca.pem" -o "$B" -D "$H" -w '%{http_code}' \
        "$@" 2>"$WORK/curl.err")
    CURL_RC=$?
    [ -n "$VERBOSE" ] && { echo "    curl $*"; echo "    -> $STATUS $(head -c 300 "$B")"; }
    return 0
}
token() { local t=$1; shift; do_curl "$URL/$t/oauth2/v2.0/token" "$@"; }

# check NAME PYEXPR : evaluate PYEXPR on the last response (j, status, hdr(), claims())
check() {
    local out
    if out=$("$PY" "$WORK/check.py" "$B" "$STATUS" "$H" "$1" "$2" 2>&1); then
        pass "$1"
    else
        fail "$1" "$out"
    fi
}

# expect_err NAME STATUS ERROR CODE [SUBERROR]
expect_err() {
    local sub=None
    [ -n "${5:-}" ] && sub="'$5'"
    check "$1" "status == $2 and j['error'] == '$3' and j['error_codes'] == [$4]
        and j['error_description'].startswith('AADSTS$4: ')
        and '\r\nTrace ID: ' + j['trace_id'] + '\r\nCorrelation ID: ' + j['correlation_id'] + '\r\nTimestamp: ' + j['timestamp'] in j['error_description']
        and j['trace_id'] == hdr('x-ms-request-id')
        and j['error_uri'] == env['URL'] + '/error?code=$4'
        and j.get('suberror') == $sub
        and hdr('content-type') == 'application/json; charset=utf-8'"
}

PUBLIC=11111111-1111-1111-1111-111111111111
CONF=22222222-2222-2222-2222-222222222222
CERT=33333333-3333-3333-3333-333333333333
UNCONSENTED=44444444-4444-4444-4444-444444444444
SECRET='s3cr3t~Value.With-Chars_0123456789'
TID=7f0d5b1e-3c2a-4e8b-9a61-2b5c8d4e1f00
OUTLOOK='https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send'
MAIL_SCOPES="$OUTLOOK offline_access"
BOB_PW="p&ss=w+rd%;'\" ünï"

# ropc TENANT CLIENT USER PASSWORD [SCOPE] [EXTRA CURL ARGS...]
ropc() {
    local t=$1 c=$2 u=$3 pw=$4 sc=${5:-$MAIL_SCOPES}
    shift 5 2>/dev/null || shift $#
    token "$t" --data-urlencode grant_type=password --data-urlencode "client_id=$c" \
        --data-urlencode "username=$u" --data-urlencode "password=$pw" \
        --data-urlencode "scope=$sc" "$@"
}
assertion() { "$PY" "$WORK/assertion.py" --state "$STATE" --client "$CERT" "$@"; }

# ================================================================ start
T0=$(date +%s.%N)
launch_emu "$STATE" --verbose
MAIN_PID=$EMU_PID
if wait_emu "$STATE" "$MAIN_PID"; then
    STARTUP=$("$PY" -c "import sys,time; print(round(time.time()-float(sys.argv[1]),3))" "$T0")
    pass "emulator starts and writes ready (${STARTUP}s)"
else
    fail "emulator starts" "$(cat "$WORK/emu-stderr.log")"
    echo "$PASS passed, $FAIL failed"
    exit 1
fi
URL=$(cat "$STATE/url")
PORT=$(cat "$STATE/port")
export URL
[ "$URL" = "https://127.0.0.1:$PORT" ] && pass "url file names the port" || fail "url $URL port $PORT"
[ "$(cat "$STATE/pid")" = "$MAIN_PID" ] && pass "pid file" || fail "pid file"
missing=""
for f in ca.pem server.crt server.key other-ca.pem server-other-ca.crt server-wrong-host.crt \
         signing.crt "client-$CERT.crt" "client-$CERT.key"; do
    [ -s "$STATE/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && pass "generated files present" || fail "missing:$missing"
[ "$(stat -c %a "$STATE/client-$CERT.key")" = 600 ] && [ "$(stat -c %a "$STATE/client-$CERT.crt")" = 600 ] \
    && pass "client key and certificate mode 0600" || fail "client key mode $(stat -c %a "$STATE/client-$CERT.key")"
# signed_by CA CERT : true when CERT's signature verifies with CA's key
signed_by() {
    "$PY" - "$1" "$2" <<'PYEOF'
import sys
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
ca, cert = (x509.load_pem_x509_certificate(open(p, "rb").read()) for p in sys.argv[1:3])
try:
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                           cert.signature_hash_algorithm)
except Exception:
    sys.exit(1)
sys.exit(0 if cert.issuer == ca.subject else 1)
PYEOF
}
signed_by "$STATE/ca.pem" "$STATE/server.crt" \
    && pass "server cert signed by ca.pem" || fail "server cert not signed by ca.pem"
signed_by "$STATE/other-ca.pem" "$STATE/server-other-ca.crt" && ! signed_by "$STATE/ca.pem" "$STATE/server-other-ca.crt" \
    && pass "other-ca server cert signed by other-ca.pem only" || fail "other-ca server cert chain"
signed_by "$STATE/ca.pem" "$STATE/server-wrong-host.crt" \
    && pass "wrong-host server cert signed by ca.pem" || fail "wrong-host server cert chain"
"$PY" - "$PORT" <<'PYEOF' && pass "listens on 127.0.0.1 only" || fail "listening socket not bound to 127.0.0.1"
import sys
port = int(sys.argv[1])
binds = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        f = line.split()
        addr, p = f[1].rsplit(":", 1)
        if int(p, 16) == port and f[3] == "0A":
            binds.add(addr)
sys.exit(0 if binds == {"0100007F"} else 1)
PYEOF

# ================================================================ control basics
out=$(ctl health) && [ "$(ctl --field ok health)" = true ] && pass "emuctl health" || fail "emuctl health" "$out"
ctl get /_emu/nope >/dev/null 2>&1; [ $? = 1 ] && pass "emuctl exits 1 on HTTP error" || fail "emuctl exit status on 404"
ctl options '{"nope": 1}' >/dev/null 2>&1; [ $? = 1 ] && pass "unknown option refused" || fail "unknown option accepted"
do_curl "$URL/_emu/fault" -H 'Content-Type: application/json' --data-binary '{"kind": '
check "control API: bad JSON is a clean 400" "status == 400 and 'JSON' in j['error']"
do_curl "$URL/_emu/fault" -H 'Content-Type: application/json' --data-binary '{"kind": "explode"}'
check "control API: unknown fault kind is 400" "status == 400 and 'explode' in j['error']"

# ================================================================ discovery and keys
do_curl "$URL/$TID/v2.0/.well-known/openid-configuration"
check "discovery by tenant id" "status == 200 and j['issuer'] == 'https://login.microsoftonline.com/$TID/v2.0'
    and j['token_endpoint'] == env['URL'] + '/$TID/oauth2/v2.0/token'
    and j['device_authorization_endpoint'] == env['URL'] + '/$TID/oauth2/v2.0/devicecode'
    and j['jwks_uri'] == env['URL'] + '/$TID/discovery/v2.0/keys'
    and j['authorization_endpoint'].startswith(env['URL']) and j['tenant_region_scope'] == 'NA'"
do_curl "$URL/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
check "discovery by verified domain names the tenant id" "status == 200 and j['issuer'] == 'https://login.microsoftonline.com/$TID/v2.0'"
do_curl "$URL/organizations/v2.0/.well-known/openid-configuration"
check "discovery for organizations" "status == 200 and j['issuer'] == 'https://login.microsoftonline.com/{tenantid}/v2.0'
    and j['token_endpoint'] == env['URL'] + '/organizations/oauth2/v2.0/token'"
do_curl "$URL/nosuch.example/v2.0/.well-known/openid-configuration"
expect_err "discovery of an unknown tenant: 90002" 400 invalid_request 90002
check "90002 names the tenant" "\"Tenant 'nosuch.example' not found\" in j['error_description']"
do_curl "$URL/contoso.com/discovery/v2.0/keys"
cp "$B" "$WORK/jwks.json"
check "keys for the tenant" "status == 200 and len(j['keys']) == 1 and {'kty','use','kid','x5t','n','e','x5c','issuer'} <= set(j['keys'][0])
    and j['keys'][0]['issuer'] == 'https://login.microsoftonline.com/$TID/v2.0'"
do_curl "$URL/common/discovery/v2.0/keys"
check "keys for common" "status == 200 and j['keys'][0]['issuer'] == 'https://login.microsoftonline.com/{tenantid}/v2.0'"
do_curl "$URL/nosuch.example/discovery/v2.0/keys"
expect_err "keys of an unknown tenant: 90002" 400 invalid_request 90002

# ================================================================ ROPC
ropc contoso.com $PUBLIC alice@contoso.com 'Correct horse battery staple' "$MAIL_SCOPES openid profile"
cp "$B" "$WORK/alice.json"
check "ROPC success body" "status == 200 and list(j) == ['token_type','scope','expires_in','ext_expires_in','access_token','refresh_token','id_token']
    and j['token_type'] == 'Bearer' and j['scope'] == '$OUTLOOK'
    and j['expires_in'] == 3599 and j['ext_expires_in'] == 3599"
check "ROPC success headers" "hdr('content-type') == 'application/json; charset=utf-8' and hdr('cache-control') == 'no-store, no-cache'
    and hdr('x-ms-request-id') and hdr('x-ms-ests-server') and int(hdr('content-length')) == len(raw)"
check "delegated access token claims" "(lambda c: c['aud'] == 'https://outlook.office.com' and c['iss'] == 'https://sts.windows.net/$TID/'
    and c['upn'] == c['unique_name'] == 'alice@contoso.com' and c['scp'] == 'IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send'
    and c['appid'] == '$PUBLIC' and c['appidacr'] == '0' and c['idtyp'] == 'user' and c['tid'] == '$TID' and c['ver'] == '1.0'
    and c['amr'] == ['pwd'] and c['app_displayname'] == 'msoauth public' and c['given_name'] == 'Alice' and c['family_name'] == 'Smith'
    and c['exp'] - c['iat'] == 3599 and c['nbf'] <= c['iat'] and c['ipaddr'] == '127.0.0.1'
    and all(k in c for k in ('acr','name','oid','puid','rh','sid','sub','uti','wids'))
    and 'groups' not in c)(claims(j['access_token']))"
check "delegated access token header has nonce, x5t, kid" "(lambda h: h['typ'] == 'JWT' and h['alg'] == 'RS256' and h['x5t'] == h['kid'] and 'nonce' in h)(header(j['access_token']))"
check "access token verifies with the JWKS" "verify(j['access_token'], '$WORK/jwks.json')"
check "id_token claims" "(lambda c: c['aud'] == '$PUBLIC' and c['iss'] == 'https://login.microsoftonline.com/$TID/v2.0'
    and c['preferred_username'] == 'alice@contoso.com' and c['ver'] == '2.0' and c['tid'] == '$TID'
    and c['groups'] == ['aaaaaaaa-0000-0000-0000-000000000001','aaaaaaaa-0000-0000-0000-000000000002']
    and all(k in c for k in ('iat','nbf','exp','name','oid','sub','uti')))(claims(j['id_token']))
    and verify(j['id_token'], '$WORK/jwks.json')"
ALICE_AT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/alice.json")
ALICE_RT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["refresh_token"])' "$WORK/alice.json")
export ALICE_RT

ropc contoso.com $PUBLIC alice@contoso.com 'Correct horse battery staple' "$OUTLOOK"
check "no offline_access/openid: no refresh_token, no id_token" "status == 200 and 'refresh_token' not in j and 'id_token' not in j"
ropc contoso.com $PUBLIC asmith@contoso.com 'Correct horse battery staple'
check "alias sign-in names the primary UPN" "status == 200 and claims(j['access_token'])['upn'] == 'alice@contoso.com'"
ropc contoso.com $PUBLIC Alice.Smith@Contoso.COM 'Correct horse battery staple' "$MAIL_SCOPES openid"
check "alias, any case: token and id_token name the primary" "status == 200 and claims(j['access_token'])['upn'] == 'alice@contoso.com' and claims(j['id_token'])['preferred_username'] == 'alice@contoso.com'"
ropc contoso.com $PUBLIC bob@contoso.com "$BOB_PW"
check "bob's tricky password (--data-urlencode)" "status == 200 and claims(j['access_token'])['upn'] == 'bob@contoso.com'"
ropc contoso.com $PUBLIC bob@contoso.com "p&ss=w+rd%;'\" uni"
expect_err "bob, password without diacritics: 50126" 400 invalid_grant 50126
ropc contoso.com $PUBLIC bob@contoso.com "p&ss=w+rd%;'\" ünï "
expect_err "bob, trailing space: 50126" 400 invalid_grant 50126
ropc contoso.com $PUBLIC alice@contoso.com 'correct horse battery staple'
expect_err "wrong password: 50126" 400 invalid_grant 50126
ropc bravo.com $PUBLIC carol@bravo.com 'Password1!'
check "user of the second domain" "status == 200 and claims(j['access_token'])['upn'] == 'carol@bravo.com'"
ropc organizations $PUBLIC alice@contoso.com 'Correct horse battery staple'
check "organizations: tenant from the user's domain" "status == 200 and claims(j['access_token'])['tid'] == '$TID'"
ropc $TID $PUBLIC svc-mail@contoso.com 'Service-Account-Pw1'
check "service account via tenant id" "status == 200 and claims(j['access_token'])['upn'] == 'svc-mail@contoso.com'"
ropc contoso.com $PUBLIC user1999@contoso.com 'Passw0rd!'
check "generated user1999" "status == 200 and claims(j['access_token'])['upn'] == 'user1999@contoso.com'"
ropc contoso.com $PUBLIC user2000@contoso.com 'Passw0rd!'
expect_err "no user2000: 50034" 400 invalid_grant 50034
ropc contoso.com $PUBLIC nobody@contoso.com 'Password1!'
expect_err "unknown user: 50034" 400 invalid_grant 50034
check "50034 hides the user" "'{EUII Hidden}' in j['error_description'] and 'nobody' not in j['error_description']"
ropc organizations $PUBLIC someone@fabrikam.example 'Password1!'
expect_err "organizations, unknown domain: 50034" 400 invalid_grant 50034
ropc organizations $PUBLIC mallory@woodgrove.com 'Password1!'
expect_err "organizations, single-tenant app, user of another tenant: 700016" 400 unauthorized_client 700016
ropc organizations 55555555-5555-5555-5555-555555555555 mallory@woodgrove.com 'Password1!' "$MAIL_SCOPES openid"
check "multi-tenant app: Woodgrove's user, Woodgrove's tid" "status == 200 and claims(j['access_token'])['tid'] == '9b1c4d2e-5f6a-4b7c-8d9e-0a1b2c3d4e5f' and claims(j['id_token'])['tid'] == '9b1c4d2e-5f6a-4b7c-8d9e-0a1b2c3d4e5f'"
ropc contoso.com 55555555-5555-5555-5555-555555555555 mallory@woodgrove.com 'Password1!'
expect_err "multi-tenant app, user of another tenant at a tenant's endpoint: 50034" 400 invalid_grant 50034

for spec in "mfa 50076 basic_action" "mfareg 50079 basic_action" "ca 53003 message_only" \
            "extmfa 50158 basic_action" "locked 50053" "disabled 50057" "expired 50055 user_password_expired"; do
    set -- $spec
    ropc contoso.com $PUBLIC "$1@contoso.com" 'Password1!'
    expect_err "user $1: AADSTS$2" 400 invalid_grant "$2" "${3:-}"
done
ropc contoso.com $PUBLIC mfa@contoso.com 'Password1!'
check "50076 names the resource" "\"access 'https://outlook.office.com'\" in j['error_description']"
ropc contoso.com $PUBLIC locked@contoso.com 'wrong'
expect_err "locked is checked before the password" 400 invalid_grant 50053
for u in disabled expired mfa ca; do
    ropc contoso.com $PUBLIC "$u@contoso.com" 'wrong'
    expect_err "$u with a wrong password: 50126 first" 400 invalid_grant 50126
done
ropc contoso.com $PUBLIC groupie@contoso.com 'Password1!' "$MAIL_SCOPES openid"
check "250 groups: overage claims instead of groups" "status == 200 and (lambda c: 'groups' not in c and c['_claim_names'] == {'groups': 'src1'}
    and c['_claim_sources']['src1']['endpoint'] == 'https://graph.windows.net/$TID/users/' + c['oid'] + '/getMemberObjects')(claims(j['id_token']))"
ctl options '{"groups_limit": 300}' >/dev/null
ropc contoso.com $PUBLIC groupie@contoso.com 'Password1!' "$MAIL_SCOPES openid"
check "groups_limit 300: all 250 groups listed" "status == 200 and (lambda g: len(g) == 250 and g[0] == 'bbbbbbbb-0000-0000-0000-000000000001')(claims(j['id_token'])['groups'])"
ctl options '{"expires_in": 120}' >/dev/null
ropc contoso.com $PUBLIC alice@contoso.com 'Correct horse battery staple'
check "option expires_in" "status == 200 and j['expires_in'] == 120 and (lambda c: c['exp'] - c['iat'])(claims(j['access_token'])) == 120"
ctl reset >/dev/null
ropc contoso.com $PUBLIC alice@contoso.com 'Correct horse battery staple'
check "reset restores options" "status == 200 and j['expires_in'] == 3599"

# request validation
ropc contoso.com $PUBLIC alice@contoso.com ''
expect_err "empty password: 900144" 400 invalid_request 900144
check "900144 names 'password'" "\"parameter: 'password'\" in j['error_description']"
token contoso.com --data-urlencode grant_type=password --data-urlencode client_id=$PUBLIC --data-urlencode username=alice@contoso.com --data-urlencode 'password=Correct horse battery staple'
expect_err "missing scope: 900144" 400 invalid_request 900144
ropc contoso.com $PUBLIC alice@contoso.com 'Correct horse battery staple' 'https://outlook.office.com/Nope.Nothing'
expect_err "unknown scope: 70011" 400 invalid_scope 70011
ropc contoso.com $PUBLIC alice@contoso.com 'Correct horse battery staple' 'https://outlook.office.com/SMTP.Send https://graph.microsoft.com/User.Read'
expect_err "two resources: 28000" 400 invalid_scope 28000
ropc nosuch.example $PUBLIC alice@contoso.com 'Correct horse battery staple'
expect_err "unknown tenant: 90002" 400 invalid_request 90002
ropc contoso.com 99999999-9999-9999-9999-999999999999 alice@contoso.com 'Correct horse battery staple'
expect_err "unknown app: 700016" 400 unauthorized_client 700016
ropc contoso.com $UNCONSENTED alice@contoso.com 'Correct horse battery staple'
expect_err "unconsented app: 65001" 400 invalid_grant 65001
check "65001 names the app" "\"named 'msoauth unconsented'\" in j['error_description']"
ropc contoso.com $PUBLIC alice@contoso.com 'Correct horse battery staple' "$MAIL_SCOPES" --data-urlencode client_secret=x
expect_err "public app with a secret: 700025" 401 invalid_client 700025
ropc contoso.com $CONF alice@contoso.com 'Correct horse battery staple'
expect_err "confidential app without credential: 7000218" 401 invalid_client 7000218
ropc contoso.com $CONF alice@contoso.com 'Correct horse battery staple' "$MAIL_SCOPES" --data-urlencode "client_secret=$SECRET"
check "ROPC with a confidential client: appidacr 1" "status == 200 and claims(j['access_token'])['appidacr'] == '1'"
CONF_RT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["refresh_token"])' "$B")
token contoso.com --data-urlencode grant_type=magic --data-urlencode client_id=$PUBLIC
expect_err "unsupported grant type: 70003" 400 unsupported_grant_type 70003
token contoso.com --data-urlencode client_id=$PUBLIC
expect_err "missing grant_type: 900144" 400 invalid_request 900144
do_curl "$URL/contoso.com/oauth2/v2.0/token"
expect_err "GET on the token endpoint: 900561" 400 invalid_request 900561
token contoso.com -d grant_type=password -d grant_type=password -d client_id=$PUBLIC
expect_err "duplicated parameter: 9000411" 400 invalid_request 9000411
token contoso.com --data-binary $'grant_type=password&client_id=\xff\xfe' -H 'Content-Type: application/x-www-form-urlencoded'
check "non-UTF-8 body: clean 400" "status == 400 and j['error'] == 'invalid_request'"
token contoso.com --data-binary 'grant_type=password&password=%FF%FE' -H 'Content-Type: application/x-www-form-urlencoded'
check "percent-encoded non-UTF-8: clean 400" "status == 400 and j['error'] == 'invalid_request'"
token contoso.com -H 'Content-Type: application/json' --data-binary '{"grant_type":"password"}'
expect_err "JSON body: 900144 grant_type" 400 invalid_request 900144
head -c 2000000 /dev/zero | tr '\0' a >"$WORK/big"
token contoso.com -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @"$WORK/big"
check "2 MB body: 413" "status == 413"
token contoso.com -H 'Content-Type: application/x-www-form-urlencoded' -H 'Expect:' --data-binary @"$WORK/big"
check "2 MB body without Expect: 413" "status == 413 and j['error'] == 'invalid_request'"
do_curl "$URL/contoso.com/oauth2/v2.0/token" -H 'Content-Length: 99999999999' -H 'Content-Type: application/x-www-form-urlencoded' --data-binary x
check "absurd Content-Length: 413" "status == 413"
do_curl "$URL/nowhere"
check "unknown path: 404" "status == 404"

# ================================================================ client credentials
token contoso.com --data-urlencode grant_type=client_credentials --data-urlencode client_id=$CONF \
    --data-urlencode "client_secret=$SECRET" --data-urlencode scope=https://outlook.office365.com/.default
cp "$B" "$WORK/app.json"
check "client credentials (secret): body" "status == 200 and list(j) == ['token_type','expires_in','ext_expires_in','access_token'] and j['expires_in'] == 3599"
check "app-only token claims" "(lambda c: c['aud'] == 'https://outlook.office365.com' and c['idtyp'] == 'app' and c['appidacr'] == '1'
    and c['roles'] == ['IMAP.AccessAsApp','POP.AccessAsApp','SMTP.SendAsApp'] and c['appid'] == '$CONF' and c['tid'] == '$TID'
    and c['app_displayname'] == 'msoauth confidential' and c['sub'] == c['oid'] and 'upn' not in c and 'scp' not in c
    and c['iss'] == 'https://sts.windows.net/$TID/' and c['ver'] == '1.0')(claims(j['access_token']))
    and 'nonce' not in header(j['access_token']) and verify(j['access_token'], '$WORK/jwks.json')"
APP_AT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/app.json")
token contoso.com --data-urlencode grant_type=client_credentials --data-urlencode client_id=$CONF \
    --data-urlencode scope=https://outlook.office365.com/.default -u "$CONF:$SECRET"
check "client credentials with HTTP Basic" "status == 200 and claims(j['access_token'])['appidacr'] == '1'"
token contoso.com --data-urlencode grant_type=client_credentials --data-urlencode client_id=$CONF \
    --data-urlencode "client_secret=${SECRET}x" --data-urlencode scope=https://outlook.office365.com/.default
expect_err "wrong secret: 7000215" 401 invalid_client 7000215
token contoso.com --data-urlencode grant_type=client_credentials --data-urlencode client_id=$CONF \
    --data-urlencode scope=https://outlook.office365.com/.default
expect_err "no credential: 7000218" 401 invalid_client 7000218
token organizations --data-urlencode grant_type=client_credentials --data-urlencode client_id=$CONF \
    --data-urlencode "client_secret=$SECRET" --data-urlencode scope=https://outlook.office365.com/.default
expect_err "client credentials at organizations: 50059" 400 invalid_request 50059
token contoso.com --data-urlencode grant_type=client_credentials --data-urlencode client_id=$CONF \
    --data-urlencode "client_secret=$SECRET" --data-urlencode scope=https://outlook.office365.com/IMAP.AccessAsApp
expect_err "client credentials without /.default: 70011" 400 invalid_scope 70011
token contoso.com --data-urlencode grant_type=client_credentials --data-urlencode client_id=$PUBLIC \
    --data-urlencode scope=https://outlook.office365.com/.default
expect_err "client credentials with a public app: 7000218" 401 invalid_client 7000218

# ================================================================ certificate client assertions
AUD="$URL/contoso.com/oauth2/v2.0/token"
cc_cert() {  # cc_cert TENANT ASSERTION
    token "$1" --data-urlencode grant_type=client_credentials --data-urlencode client_id=$CERT \
        --data-urlencode "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer" \
        --data-urlencode "client_assertion=$2" --data-urlencode scope=https://outlook.office365.com/.default
}
cc_cert contoso.com "$(assertion --aud "$AUD")"
check "certificate assertion RS256 + x5t#S256: appidacr 2" "status == 200 and (lambda c: c['appidacr'] == '2' and c['appid'] == '$CERT'
    and c['roles'] == ['IMAP.AccessAsApp','POP.AccessAsApp','SMTP.SendAsApp'])(claims(j['access_token']))"
cc_cert contoso.com "$(assertion --aud "$AUD" --alg PS256)"
check "certificate assertion PS256" "status == 200 and claims(j['access_token'])['appidacr'] == '2'"
cc_cert contoso.com "$(assertion --aud "$AUD" --thumb sha1)"
check "certificate assertion with legacy x5t" "status == 200"
cc_cert $TID "$(assertion --aud "$URL/$TID/oauth2/v2.0/token")"
check "assertion at the tenant-id URL" "status == 200"
cc_cert contoso.com "$(assertion --aud "$URL/$TID/oauth2/v2.0/token")"
check "assertion with the tenant-id audience at the domain URL" "status == 200"
cc_cert contoso.com "$(assertion --aud "$AUD" --bad-sig)"
expect_err "bad signature: 700027" 401 invalid_client 700027
check "700027 says the signature did not match" "'did not match the expected signature value' in j['error_description']"
cc_cert contoso.com "$(assertion --aud "$AUD" --thumb wrong)"
expect_err "unknown thumbprint: 700027" 401 invalid_client 700027
check "700027 says the key was not found" "'The key was not found.' in j['error_description'] and '0101010101' in j['error_description']"
cc_cert contoso.com "$(assertion --aud "$AUD" --exp -300 --nbf -900)"
expect_err "expired assertion: 700024" 401 invalid_client 700024
cc_cert contoso.com "$(assertion --aud "$AUD" --exp -30)"
check "assertion expired 30 s ago is within the 60 s skew" "status == 200"
cc_cert contoso.com "$(assertion --aud "$AUD" --nbf 600 --exp 900)"
expect_err "assertion not yet valid: 700024" 401 invalid_client 700024
cc_cert contoso.com "$(assertion --aud "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token")"
expect_err "wrong audience: 50027" 401 invalid_client 50027
check "50027 says invalid audience" "'Invalid audience' in j['error_description']"
cc_cert contoso.com "$(assertion --aud "$AUD" --iss $CONF)"
expect_err "iss/sub not the client: 700021" 401 invalid_client 700021
cc_cert contoso.com "$(assertion --aud "$AUD" --jti replayed-jti-1)"
check "first use of a jti" "status == 200"
cc_cert contoso.com "$(assertion --aud "$AUD" --jti replayed-jti-1)"
expect_err "replayed jti: 50027" 401 invalid_client 50027
cc_cert contoso.com "$(assertion --aud "$AUD" --no-jti)"
expect_err "missing jti: 50027" 401 invalid_client 50027
cc_cert contoso.com "$(assertion --aud "$AUD" --alg HS256)"
expect_err "HS256 refused: 50027" 401 invalid_client 50027
cc_cert contoso.com "abc.def"
expect_err "two-part assertion: 50027" 401 invalid_client 50027
token contoso.com --data-urlencode grant_type=client_credentials --data-urlencode client_id=$CONF \
    --data-urlencode "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer" \
    --data-urlencode "client_assertion=$(assertion --aud "$AUD")" --data-urlencode scope=https://outlook.office365.com/.default
expect_err "assertion for an app without that certificate: 700027" 401 invalid_client 700027
ropc contoso.com $CERT alice@contoso.com 'Correct horse battery staple' "$MAIL_SCOPES" \
    --data-urlencode "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer" \
    --data-urlencode "client_assertion=$(assertion --aud "$AUD")"
check "ROPC with a certificate client" "status == 200 and claims(j['access_token'])['appidacr'] == '2' and 'refresh_token' in j"
CERT_RT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["refresh_token"])' "$B")
token contoso.com --data-urlencode grant_type=refresh_token --data-urlencode client_id=$CERT \
    --data-urlencode "refresh_token=$CERT_RT" --data-urlencode "scope=$MAIL_SCOPES" \
    --data-urlencode "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer" \
    --data-urlencode "client_assertion=$(assertion --aud "$AUD")"
check "refresh with a certificate client" "status == 200 and claims(j['access_token'])['appidacr'] == '2'"

# ================================================================ refresh tokens
refresh() {  # refresh CLIENT TOKEN [SCOPE]
    token contoso.com --data-urlencode grant_type=refresh_token --data-urlencode "client_id=$1" \
        --data-urlencode "refresh_token=$2" --data-urlencode "scope=${3:-$MAIL_SCOPES}"
}
refresh $PUBLIC "$ALICE_RT"
check "refresh: new tokens, rotated refresh token" "status == 200 and j['refresh_token'] != env['ALICE_RT'] and 'id_token' not in j
    and claims(j['access_token'])['upn'] == 'alice@contoso.com' and j['scope'] == '$OUTLOOK'" 
refresh $PUBLIC "$ALICE_RT" "$MAIL_SCOPES openid"
check "the old refresh token keeps working; openid gives an id_token" "status == 200 and 'id_token' in j"
refresh $PUBLIC "$ALICE_RT" "https://graph.microsoft.com/User.Read"
check "refresh token not bound to its scopes" "status == 200 and claims(j['access_token'])['aud'] == 'https://graph.microsoft.com'"
refresh $PUBLIC "1.Anot-a-token"
expect_err "unknown refresh token: 9002313" 400 invalid_grant 9002313
refresh $PUBLIC "$CONF_RT"
expect_err "refresh token of another client: 70000" 400 invalid_grant 70000

# ================================================================ introspect and revoke
do_curl "$URL/_emu/introspect" --data-urlencode "token=$ALICE_AT"
check "introspect: active user token" "status == 200 and j['active'] is True and j['upn'] == 'alice@contoso.com' and j['scp'] == 'IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send'"
do_curl -G "$URL/_emu/introspect" --data-urlencode "token=$APP_AT"
check "introspect (GET): active app token with roles" "status == 200 and j['active'] is True and j['roles'] == ['IMAP.AccessAsApp','POP.AccessAsApp','SMTP.SendAsApp'] and j['upn'] is None"
SIG=${ALICE_AT##*.}
case $SIG in A*) SIG="B${SIG#?}" ;; *) SIG="A${SIG#?}" ;; esac
do_curl "$URL/_emu/introspect" --data-urlencode "token=${ALICE_AT%.*}.$SIG"
check "introspect: tampered token inactive" "status == 200 and j['active'] is False"
out=$(ctl revoke '{"user": "asmith@contoso.com"}')
[ "$(ctl --field ok revoke alice@contoso.com)" = true ] && pass "revoke (by alias)" || fail "revoke" "$out"
[ "$(ctl --field active introspect "$ALICE_AT")" = false ] && pass "revoked access token inactive" || fail "revoked access token still active"
refresh $PUBLIC "$ALICE_RT"
expect_err "revoked refresh token: 50173" 400 invalid_grant 50173
ropc contoso.com $PUBLIC alice@contoso.com 'Correct horse battery staple'
NEW_AT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$B")
[ "$(ctl --field active introspect "$NEW_AT")" = true ] && pass "token issued after revoke is active" || fail "new token inactive after revoke"
[ "$(ctl --field active introspect "$APP_AT")" = true ] && pass "revoking a user leaves app tokens" || fail "app token revoked by user revoke"
ctl fault '{"kind": "expires", "expires_in": -5}' >/dev/null
ropc contoso.com $PUBLIC alice@contoso.com 'Correct horse battery staple'
check "fault expires -5" "status == 200 and j['expires_in'] == -5"
EXP_AT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$B")
[ "$(ctl --field reason introspect "$EXP_AT")" = expired ] && pass "introspect: expired token" || fail "expired token not reported expired"

# ================================================================ device code flow
ctl options '{"device_interval": 1, "device_expires_in": 3}' >/dev/null
devicecode() { do_curl "$URL/${2:-contoso.com}/oauth2/v2.0/devicecode" --data-urlencode "client_id=$1" --data-urlencode "scope=$MAIL_SCOPES openid"; }
poll() { token "${3:-contoso.com}" --data-urlencode "grant_type=urn:ietf:params:oauth:grant-type:device_code" --data-urlencode "client_id=$1" --data-urlencode "device_code=$2"; }
field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$B" "$1"; }
devicecode $PUBLIC
check "devicecode response" "status == 200 and list(j) == ['user_code','device_code','verification_uri','expires_in','interval','message']
    and j['verification_uri'] == 'https://microsoft.com/devicelogin' and j['interval'] == 1 and j['expires_in'] == 3
    and len(j['user_code']) == 8 and j['message'] == 'To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ' + j['user_code'] + ' to authenticate.'"
DC=$(field device_code)
UC=$(field user_code)
poll $PUBLIC "$DC"
expect_err "device: authorization_pending" 400 authorization_pending 70016
poll $PUBLIC "$DC"
expect_err "device: polled too fast: slow_down" 400 slow_down 70016
[ "$(ctl --field pending/0/user_code device)" = "$UC" ] && pass "GET /_emu/device lists the pending code" || fail "pending code not listed"
ctl device "{\"user_code\": \"$UC\", \"action\": \"approve\", \"user\": \"alice.smith@contoso.com\"}" >/dev/null \
    && pass "device approve" || fail "device approve"
poll $PUBLIC "$DC"
check "device: approved code gives tokens for the primary UPN" "status == 200 and claims(j['access_token'])['upn'] == 'alice@contoso.com' and 'refresh_token' in j and 'id_token' in j"
poll $PUBLIC "$DC"
expect_err "device: second redemption refused" 400 invalid_grant 54005
devicecode $PUBLIC
DC=$(field device_code); UC=$(field user_code)
ctl device "{\"user_code\": \"$UC\", \"action\": \"deny\"}" >/dev/null
poll $PUBLIC "$DC"
expect_err "device: denied: authorization_declined" 400 authorization_declined 70000
devicecode $PUBLIC
DC=$(field device_code); UC=$(field user_code)
ctl device "{\"user_code\": \"$UC\", \"action\": \"expire\"}" >/dev/null
poll $PUBLIC "$DC"
expect_err "device: expired by control: expired_token" 400 expired_token 70020
devicecode $PUBLIC organizations
DC=$(field device_code)
sleep 3.2
poll $PUBLIC "$DC" organizations
expect_err "device: expired by time: expired_token" 400 expired_token 70020
poll $PUBLIC "DAQABnot-a-code"
expect_err "device: unknown code: bad_verification_code" 400 bad_verification_code 70019
ctl fault '{"kind": "message", "endpoint": "devicecode", "message": "\u001b[2J{code}\r"}' >/dev/null
devicecode $PUBLIC
check "fault message: the device message as given" "status == 200 and j['message'] == '\\x1b[2J' + j['user_code'] + '\\r'"
devicecode 99999999-9999-9999-9999-999999999999
expect_err "devicecode: unknown app: 700016" 400 unauthorized_client 700016
ctl device '{"user_code": "NOPE1234", "action": "approve", "user": "alice@contoso.com"}' >/dev/null 2>&1
[ $? = 1 ] && pass "approving an unknown user_code fails" || fail "approving an unknown user_code succeeded"

# ================================================================ strict-RFC mode
ctl options '{"strict_rfc": 1, "device_interval": 1}' >/dev/null
devicecode $PUBLIC
check "strict: RFC 8628 device answer, no message" "status == 200 and sorted(j) == ['device_code','expires_in','interval','user_code','verification_uri','verification_uri_complete']
    and j['verification_uri_complete'] == j['verification_uri'] + '?user_code=' + j['user_code']"
DC=$(field device_code); UC=$(field user_code)
ctl device "{\"user_code\": \"$UC\", \"action\": \"deny\"}" >/dev/null
poll $PUBLIC "$DC"
check "strict: denied: access_denied, RFC body" "status == 400 and j == {'error': 'access_denied', 'error_description': j['error_description']} and 'AADSTS' not in j['error_description']"
devicecode $CONF
check "strict: devicecode: confidential app without its secret: invalid_client" "status == 401 and j['error'] == 'invalid_client' and 'error_codes' not in j"
ropc contoso.com $PUBLIC alice@contoso.com 'Correct horse battery staple'
check "strict: the scope granted lacks POP" "status == 200 and 'POP.AccessAsUser.All' not in j['scope'] and 'IMAP.AccessAsUser.All' in j['scope'] and 'POP' not in claims(j['access_token'])['scp']"
STRICT_RT=$(field refresh_token)
token contoso.com --data-urlencode grant_type=refresh_token --data-urlencode client_id=$PUBLIC --data-urlencode "refresh_token=$STRICT_RT" --data-urlencode "scope=$MAIL_SCOPES"
check "strict: refresh beyond the grant: invalid_scope" "status == 400 and j['error'] == 'invalid_scope' and 'POP.AccessAsUser.All' in j['error_description']"
token contoso.com --data-urlencode grant_type=refresh_token --data-urlencode client_id=$PUBLIC --data-urlencode "refresh_token=$STRICT_RT"
check "strict: refresh without scope: the scope granted" "status == 200 and 'IMAP.AccessAsUser.All' in j['scope'] and 'POP' not in j['scope']"
ctl reset >/dev/null
ctl fault '{"kind": "describe", "description": "bad {password} for {username}"}' >/dev/null
ropc contoso.com $PUBLIC alice@contoso.com 'Correct horse battery staple'
check "fault describe: the form quoted back" "status == 400 and j == {'error': 'invalid_grant', 'error_description': 'bad Correct horse battery staple for alice@contoso.com'}"

# ================================================================ counters, requests, reset
ctl reset >/dev/null
ropc contoso.com $PUBLIC ALICE@contoso.com 'Correct horse battery staple'
ropc contoso.com $PUBLIC ALICE@contoso.com 'wrong'
ropc contoso.com $PUBLIC bob@contoso.com "$BOB_PW"
BOB_RT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["refresh_token"])' "$B")
token contoso.com --data-urlencode grant_type=refresh_token --data-urlencode client_id=$PUBLIC --data-urlencode "refresh_token=$BOB_RT" --data-urlencode "scope=$MAIL_SCOPES"
token contoso.com --data-urlencode grant_type=client_credentials --data-urlencode client_id=$CONF --data-urlencode "client_secret=$SECRET" --data-urlencode scope=https://outlook.office365.com/.default
devicecode $PUBLIC
do_curl "$URL/contoso.com/v2.0/.well-known/openid-configuration"
do_curl "$URL/contoso.com/discovery/v2.0/keys"
ctl health >/dev/null
do_curl "$URL/_emu/counters"
check "counters" "j['total'] == 8 and j['by_endpoint'] == {'token': 5, 'devicecode': 1, 'discovery': 1, 'keys': 1}
    and j['by_grant'] == {'password': 3, 'refresh_token': 1, 'client_credentials': 1}
    and j['by_user'] == {'alice@contoso.com': 2, 'bob@contoso.com': 2}
    and j['by_client'] == {'$PUBLIC': 5, '$CONF': 1}"
do_curl "$URL/_emu/requests?last=3"
check "requests log: last 3, in order, no secrets" "len(j['requests']) == 3 and [r['endpoint'] for r in j['requests']] == ['devicecode','discovery','keys']
    and '$SECRET' not in raw.decode()"
do_curl "$URL/_emu/requests?last=8"
check "requests log: grant, client auth, username, params" "(lambda r: r[1]['username'] == 'ALICE@contoso.com' and r[1]['client_auth'] == 'none' and r[1]['status'] == 400
    and r[1]['error_code'] == 50126 and 'password' in r[1]['params'] and r[4]['grant_type'] == 'client_credentials' and r[4]['client_auth'] == 'secret'
    and r[3]['grant_type'] == 'refresh_token')(j['requests'])
    and 'Correct horse' not in raw.decode() and 'ss=w+rd' not in raw.decode()"
ctl fault '{"kind": "status", "status": 500}' >/dev/null
ctl options '{"expires_in": 77}' >/dev/null
ctl reset >/dev/null
[ "$(ctl --field total counters)" = 0 ] && pass "reset zeroes counters" || fail "reset does not zero counters"
refresh $PUBLIC "$BOB_RT"
check "reset clears faults and options, keeps refresh tokens" "status == 200 and j['expires_in'] == 3599"
ctl reset '{"tokens": true}' >/dev/null
refresh $PUBLIC "$BOB_RT"
expect_err "reset {tokens: true} forgets refresh tokens" 400 invalid_grant 9002313

# ================================================================ faults
ok_ropc() { ropc contoso.com $PUBLIC alice@contoso.com 'Correct horse battery staple' "$@"; }
ctl fault '{"kind": "delay", "seconds": 1.0}' >/dev/null
t0=$(date +%s.%N); ok_ropc; t1=$(date +%s.%N)
check "fault delay: slow, then a normal answer" "status == 200 and $t1 - $t0 >= 1.0 and 'access_token' in j"
ctl options '{"token_latency_ms": 300}' >/dev/null
t0=$(date +%s.%N); ok_ropc; t1=$(date +%s.%N)
check "option token_latency_ms: every answer waits" "status == 200 and $t1 - $t0 >= 0.3 and 'access_token' in j"
ctl options '{"token_latency_ms": -1}' >/dev/null 2>&1; [ $? = 1 ] && pass "negative latency refused" || fail "negative latency accepted"
ctl options '{"token_latency_ms": 0}' >/dev/null
ctl fault '{"kind": "status", "status": 503, "count": 2}' >/dev/null
ok_ropc
check "fault status 503 (Microsoft-like body)" "status == 503 and j['error'] == 'temporarily_unavailable' and j['error_codes'] == [90033]"
ok_ropc
check "fault count 2: second request faulted too" "status == 503"
ok_ropc
check "fault count 2: third request normal" "status == 200"
ctl fault '{"kind": "status", "status": 502, "plain": true}' >/dev/null
ok_ropc
check "fault status 502 plain text" "status == 502 and j is None and hdr('content-type').startswith('text/plain')"
ctl fault '{"kind": "throttle", "retry_after": 7}' >/dev/null
ok_ropc
check "fault throttle: 429 + Retry-After" "status == 429 and hdr('retry-after') == '7' and j['error_codes'] == [90055]"
ctl fault '{"kind": "malformed"}' >/dev/null
ok_ropc
check "fault malformed: 200 with broken JSON" "status == 200 and j is None and raw.startswith(b'{')"
ctl fault '{"kind": "wrong_types"}' >/dev/null
ok_ropc
check "fault wrong_types" "status == 200 and isinstance(j['expires_in'], str) and isinstance(j['access_token'], int)"
ctl fault '{"kind": "missing_fields"}' >/dev/null
ok_ropc
check "fault missing_fields" "status == 200 and 'access_token' not in j and j['token_type'] == 'Bearer'"
ctl fault '{"kind": "expires", "expires_in": 999999999999}' >/dev/null
ok_ropc
check "fault expires huge" "status == 200 and j['expires_in'] == 999999999999"
ctl fault '{"kind": "tenant"}' >/dev/null
ok_ropc
check "fault tenant: tokens name Woodgrove" "status == 200 and claims(j['access_token'])['tid'] == '9b1c4d2e-5f6a-4b7c-8d9e-0a1b2c3d4e5f' and claims(j['access_token'])['upn'] == 'alice@contoso.com'"
ctl fault '{"kind": "opaque"}' >/dev/null
ok_ropc "$MAIL_SCOPES openid"
check "fault opaque: no id_token, access token not a JWT" "status == 200 and 'id_token' not in j and j['access_token'].count('.') == 0"
ctl fault '{"kind": "huge"}' >/dev/null
ok_ropc
check "fault huge: 10 MB of valid JSON" "status == 200 and len(raw) == 10 * 1024 * 1024 and len(j['access_token']) > 10000000"
ctl fault '{"kind": "close"}' >/dev/null
ok_ropc
[ "$CURL_RC" = 18 ] && pass "fault close: truncated body (curl exit 18)" || fail "fault close: curl exit $CURL_RC" "$(cat "$WORK/curl.err")"
ctl fault '{"kind": "drop"}' >/dev/null
ok_ropc
[ "$CURL_RC" = 52 ] && pass "fault drop: empty reply (curl exit 52)" || fail "fault drop: curl exit $CURL_RC"
ctl fault '{"kind": "redirect"}' >/dev/null
ok_ropc
check "fault redirect: 302 elsewhere" "status == 302 and hdr('location') == 'https://elsewhere.example/contoso.com/oauth2/v2.0/token'"
ctl fault '{"kind": "status", "status": 500, "endpoint": "devicecode"}' >/dev/null
ok_ropc
check "a devicecode fault spares the token endpoint" "status == 200"
devicecode $PUBLIC
check "... and hits the devicecode endpoint" "status == 500"
ctl fault '{"kind": "status", "status": 504, "endpoint": "any"}' >/dev/null
do_curl "$URL/contoso.com/discovery/v2.0/keys"
check "endpoint any: hits the keys endpoint" "status == 504"
ctl fault '{"kind": "status", "status": 500, "count": -1}' >/dev/null
ok_ropc; s1=$STATUS; ok_ropc; s2=$STATUS; ok_ropc; s3=$STATUS
[ "$s1$s2$s3" = 500500500 ] && pass "count -1: until reset" || fail "count -1: $s1 $s2 $s3"
ctl reset >/dev/null
ok_ropc
check "reset clears a count -1 fault" "status == 200"
[ "$(ctl --field by_status/200 counters)" = 1 ] && pass "faulted requests still counted, reset zeroes them" || fail "by_status after reset"

# ================================================================ HTTP plumbing
curl -sS --cacert "$STATE/ca.pem" -v -o /dev/null -o /dev/null "$URL/_emu/health" "$URL/_emu/health" 2>"$WORK/keepalive.err"
grep -qi "Re-using existing connection" "$WORK/keepalive.err" && pass "keep-alive: connection reused" || fail "keep-alive: connection not reused"
do_curl "https://localhost:$PORT/_emu/health"
check "certificate valid for localhost" "status == 200 and j['ok'] is True"
ctl health >/dev/null && pass "emulator alive after the abuse" || fail "emulator died"

# ================================================================ TLS identities, lifetime, SIGTERM
launch_emu "$WORK/other" --tls-identity other-ca --lifetime 60
OTHER_PID=$EMU_PID
wait_emu "$WORK/other" "$OTHER_PID"
launch_emu "$WORK/wrong" --tls-identity wrong-host --lifetime 4
WRONG_PID=$EMU_PID
[ -e "$WORK/other/ready" ] && wait_emu "$WORK/wrong" "$WRONG_PID" \
    && pass "other-ca and wrong-host instances start" || fail "other instances did not start" "$(tail "$WORK/emu-stderr.log")"
OURL=$(cat "$WORK/other/url")
curl -sS -o /dev/null --cacert "$WORK/other/ca.pem" "$OURL/_emu/health" 2>/dev/null
rc=$?; [ $rc = 60 ] && pass "--tls-identity other-ca: refused with ca.pem" || fail "other-ca with ca.pem: curl exit $rc"
curl -sS -o /dev/null --cacert "$WORK/other/other-ca.pem" "$OURL/_emu/health" \
    && pass "--tls-identity other-ca: accepted with other-ca.pem" || fail "other-ca with other-ca.pem"
"$PY" "$HERE/emuctl.py" --state-dir "$WORK/other" health >/dev/null && pass "emuctl follows other-ca" || fail "emuctl with other-ca"
WPORT=$(cat "$WORK/wrong/port")
curl -sS -o /dev/null --cacert "$WORK/wrong/ca.pem" "https://127.0.0.1:$WPORT/_emu/health" 2>/dev/null
rc=$?; [ $rc = 60 ] && pass "--tls-identity wrong-host: host name refused" || fail "wrong-host: curl exit $rc"
curl -sS -o /dev/null --cacert "$WORK/wrong/ca.pem" --resolve "wrong.example:$WPORT:127.0.0.1" "https://wrong.example:$WPORT/_emu/health" \
    && pass "--tls-identity wrong-host: cert is for wrong.example" || fail "wrong-host cert not valid for wrong.example"
kill -TERM "$OTHER_PID"
for i in $(seq 1 50); do kill -0 "$OTHER_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$OTHER_PID" 2>/dev/null && fail "SIGTERM: still running" || pass "SIGTERM stops the emulator"
[ ! -e "$WORK/other/ready" ] && pass "ready removed on exit" || fail "ready left behind"
for i in $(seq 1 80); do kill -0 "$WRONG_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$WRONG_PID" 2>/dev/null; then
    fail "--lifetime 4: still running after 8 s"
else
    wait "$WRONG_PID"; rc=$?
    [ $rc = 0 ] && pass "--lifetime 4: exits by itself (status 0)" || fail "--lifetime exit status $rc"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
