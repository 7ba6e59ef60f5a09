#!/usr/bin/python3
"""Microsoft Entra ID (Azure AD) emulator for the msoauth test suite.

Serves Microsoft's v2.0 token, device-code, discovery and JWKS endpoints over
HTTPS on 127.0.0.1 with Microsoft's wire formats and AADSTS error codes, plus
a control API under /_emu/ (counters, faults, revocation, device approval,
options, request log).  See README.md next to this file.

Standard library plus python3-cryptography (Debian 12: 38.0.4) only.
"""

from __future__ import annotations

import argparse
import base64
import collections
import datetime as dt
import hashlib
import hmac
import http.server
import ipaddress
import json
import os
import re
import secrets
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MAX_BODY = 1024 * 1024
# An oversized body up to this size is read and dropped before the 413, as
# a real server's lingering close does: closing with unread bytes makes the
# kernel answer RST, and the client may then lose the 413 itself.
DRAIN_MAX = 8 * 1024 * 1024
HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0
CLOCK_SKEW = 60
REQUEST_LOG_SIZE = 1000
ISSUED_LOG_SIZE = 100000
MS_LOGIN = "https://login.microsoftonline.com"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SPECIAL_TENANTS = ("organizations", "common", "consumers")
# The tid the fault "tenant" puts in tokens by default: Woodgrove, the
# fixture's second tenant.
FOREIGN_TID = "9b1c4d2e-5f6a-4b7c-8d9e-0a1b2c3d4e5f"
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
DEFAULT_USER_WIDS = ["b79fbf4d-3ef9-4689-8143-76b194e85509"]
DEFAULT_APP_WIDS = ["0997a1d0-0d1d-4acb-b408-d5ca73121e90"]
USER_FLAGS = {"locked", "disabled", "password_expired", "mfa", "mfa_registration",
              "conditional_access", "external_mfa"}

# Resources and the delegated permissions the emulator knows; the first list
# is what ".default" grants.
_EXCHANGE = ["IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send",
             "EWS.AccessAsUser.All", "Mail.Read", "Mail.ReadWrite", "Mail.Send", "User.Read"]
_EXCHANGE_DEFAULT = ["IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send"]
RESOURCES: dict[str, tuple[list[str], list[str]]] = {
    "https://outlook.office.com": (_EXCHANGE, _EXCHANGE_DEFAULT),
    "https://outlook.office365.com": (_EXCHANGE, _EXCHANGE_DEFAULT),
    "https://graph.microsoft.com": (["User.Read", "Mail.Read", "Mail.ReadWrite", "Mail.Send",
                                     "IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send"],
                                    ["User.Read"]),
}
GRAPH = "https://graph.microsoft.com"

DEFAULT_OPTIONS: dict[str, int] = {
    "expires_in": 3599,
    "ext_expires_in": 0,          # 0 = same as expires_in
    "device_interval": 5,
    "device_expires_in": 900,
    "groups_limit": 200,
    "strict_rfc": 0,              # 1: a plain RFC 6749/8628 server (README.md)
    "strict_rotation": 0,         # 1: a refresh token redeems once only
    "token_latency_ms": 0,        # every token endpoint answer waits this long
}

# What a strict-RFC server does not grant, though asked: the granted scope
# is narrower than the one asked for (RFC 6749 section 3.3).
STRICT_WITHHELD = "POP.AccessAsUser.All"

VERBOSE = False


def log(msg: str) -> None:
    if VERBOSE:
        sys.stderr.write(f"entra_emu: {msg}\n")
        sys.stderr.flush()


# --------------------------------------------------------------------------
# small helpers

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")


def b64url_decode(text: str) -> bytes:
    if not _B64URL_RE.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def int_b64(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def compact_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def ms_timestamp(t: Optional[float] = None) -> str:
    when = dt.datetime.fromtimestamp(time.time() if t is None else t, dt.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%SZ")


def iso_time(t: float) -> str:
    try:
        when = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(t)
    return when.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def consteq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "msoauth-entra-emu:" + ":".join(parts)))


def random_id(nbytes: int) -> str:
    return b64url(secrets.token_bytes(nbytes))


def write_file(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write atomically (temporary file + rename) with the given mode."""
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException:
        os.unlink(tmp)
        raise
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# PKI: CAs, TLS server identities, token signing key, client certificates

def pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_cert(cn: str, key: rsa.RSAPrivateKey, *, issuer: Optional[x509.Certificate] = None,
              issuer_key: Optional[rsa.RSAPrivateKey] = None, ca: bool = False,
              dns: tuple[str, ...] = (), ips: tuple[str, ...] = (),
              eku: Optional[list] = None, days: int = 365) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "msoauth tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer = issuer_key or key
    builder = (x509.CertificateBuilder()
               .subject_name(name)
               .issuer_name(issuer.subject if issuer else name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(hours=1))
               .not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   signer.public_key()), critical=False))
    if ca:
        usage = x509.KeyUsage(digital_signature=True, content_commitment=False,
                              key_encipherment=False, data_encipherment=False,
                              key_agreement=False, key_cert_sign=True, crl_sign=True,
                              encipher_only=False, decipher_only=False)
    else:
        usage = x509.KeyUsage(digital_signature=True, content_commitment=False,
                              key_encipherment=True, data_encipherment=False,
                              key_agreement=False, key_cert_sign=False, crl_sign=False,
                              encipher_only=False, decipher_only=False)
    builder = builder.add_extension(usage, critical=True)
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(signer, hashes.SHA256())


@dataclass
class Pki:
    """Everything the emulator generates at start, written into the state dir."""
    server_files: dict[str, tuple[str, str]]      # tls identity -> (cert path, key path)
    signing_key: rsa.RSAPrivateKey
    signing_cert: x509.Certificate
    kid: str
    client_certs: dict[str, x509.Certificate]    # client_id (lowercase) -> certificate


def generate_pki(state_dir: str, cert_apps: list["App"]) -> Pki:
    names = ["ca", "other-ca", "server", "signing"] + [f"client:{a.client_id}" for a in cert_apps]
    workers = min(len(names), (os.cpu_count() or 1) + 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        keys = dict(zip(names, pool.map(
            lambda _: rsa.generate_private_key(public_exponent=65537, key_size=2048), names)))

    def out(name: str, data: bytes, mode: int = 0o644) -> str:
        path = os.path.join(state_dir, name)
        write_file(path, data, mode)
        return path

    server_eku = [ExtendedKeyUsageOID.SERVER_AUTH]
    ca = make_cert("msoauth test CA", keys["ca"], ca=True, days=3650)
    other_ca = make_cert("msoauth other test CA", keys["other-ca"], ca=True, days=3650)
    out("ca.pem", pem_cert(ca))
    out("ca.key", pem_key(keys["ca"]), 0o600)
    out("other-ca.pem", pem_cert(other_ca))

    server_key = keys["server"]
    identities = {
        "normal": ("server", ca, keys["ca"], ("localhost",), ("127.0.0.1",)),
        "other-ca": ("server-other-ca", other_ca, keys["other-ca"], ("localhost",), ("127.0.0.1",)),
        "wrong-host": ("server-wrong-host", ca, keys["ca"], ("wrong.example",), ()),
    }
    server_files = {}
    for identity, (base, issuer, issuer_key, dns, ips) in identities.items():
        cn = ips[0] if ips else dns[0]
        cert = make_cert(cn, server_key, issuer=issuer, issuer_key=issuer_key,
                         dns=dns, ips=ips, eku=server_eku, days=30)
        server_files[identity] = (out(f"{base}.crt", pem_cert(cert)),
                                  out(f"{base}.key", pem_key(server_key), 0o600))

    signing_cert = make_cert("accounts.accesscontrol.windows.net", keys["signing"], days=365)
    out("signing.crt", pem_cert(signing_cert))
    out("signing.key", pem_key(keys["signing"]), 0o600)
    kid = b64url(signing_cert.fingerprint(hashes.SHA1()))

    client_certs = {}
    for app in cert_apps:
        key = keys[f"client:{app.client_id}"]
        cert = make_cert(app.name, key, eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
                         days=app.certificate_days)
        out(f"client-{app.client_id}.crt", pem_cert(cert), 0o600)
        out(f"client-{app.client_id}.key", pem_key(key), 0o600)
        client_certs[app.client_id.lower()] = cert
    return Pki(server_files, keys["signing"], signing_cert, kid, client_certs)


# --------------------------------------------------------------------------
# the directory (fixture)

@dataclass
class Tenant:
    id: str
    name: str
    domains: list[str]
    region: str = "NA"


@dataclass
class App:
    client_id: str
    name: str
    tenant_id: str
    public: bool
    consent: bool
    secret: Optional[str]
    certificate: bool
    roles: list[str]
    sp_oid: str
    certificate_days: int = 365
    multi_tenant: bool = False       # signs in users of any tenant
    cert_sha1: bytes = b""
    cert_sha256: bytes = b""
    cert_public_key: Any = None


@dataclass
class User:
    upn: str
    password: str
    oid: str
    tenant_id: str
    name: str
    given_name: str
    family_name: str
    aliases: list[str]
    groups: list[str]
    flags: set[str]


class FixtureError(Exception):
    pass


class Directory:
    """Tenants, apps and users from the fixture, with Entra's look-up rules."""

    def __init__(self, data: dict):
        self.tenants: list[Tenant] = []
        self._tenant_keys: dict[str, Tenant] = {}
        self.apps: dict[str, App] = {}
        self._users: dict[str, User] = {}
        for t in data.get("tenants", []):
            self._add_tenant(t)
        if not self.tenants:
            raise FixtureError("the fixture has no tenants")
        for a in data.get("apps", []):
            self._add_app(a)
        for u in data.get("users", []):
            self._add_user(u)
        gen = data.get("generated_users")
        if gen:
            for i in range(int(gen["count"])):
                upn = gen["format"] % i
                self._add_user({"upn": upn, "password": gen["password"],
                                "flags": gen.get("flags", [])})

    def _add_tenant(self, t: dict) -> None:
        tenant = Tenant(id=t["id"].lower(), name=t.get("name", t["id"]),
                        domains=[d.lower() for d in t.get("domains", [])],
                        region=t.get("region", "NA"))
        self.tenants.append(tenant)
        for key in [tenant.id] + tenant.domains:
            self._tenant_keys[key] = tenant

    def _add_app(self, a: dict) -> None:
        cid = a["client_id"]
        tenant = self._tenant_keys.get(str(a.get("tenant", self.tenants[0].id)).lower())
        if tenant is None:
            raise FixtureError(f"app {cid}: unknown tenant")
        secret = a.get("secret")
        certificate = bool(a.get("certificate", False))
        public = bool(a.get("public", not (secret or certificate)))
        self.apps[cid.lower()] = App(
            client_id=cid, name=a.get("name", cid), tenant_id=tenant.id, public=public,
            consent=bool(a.get("consent", True)), secret=secret, certificate=certificate,
            roles=list(a.get("roles", [])),
            sp_oid=a.get("service_principal_oid") or stable_uuid("sp", cid),
            certificate_days=int(a.get("certificate_days", 365)),
            multi_tenant=bool(a.get("multi_tenant", False)))

    def _add_user(self, u: dict) -> None:
        upn = u["upn"]
        tenant = self.tenant_of_username(upn)
        if tenant is None:
            raise FixtureError(f"user {upn}: domain belongs to no tenant")
        groups = list(u.get("groups", []))
        gen = u.get("generated_groups")
        if isinstance(gen, int):
            gen = {"count": gen}
        if gen:
            fmt = gen.get("format", "bbbbbbbb-0000-0000-0000-%012d")
            start = int(gen.get("start", 1))
            groups += [fmt % i for i in range(start, start + int(gen["count"]))]
        flags = set(u.get("flags", []))
        if flags - USER_FLAGS:
            raise FixtureError(f"user {upn}: unknown flags {sorted(flags - USER_FLAGS)}")
        local = upn.split("@", 1)[0]
        user = User(upn=upn, password=u["password"], oid=u.get("oid") or stable_uuid("user", upn),
                    tenant_id=tenant.id, name=u.get("name", local),
                    given_name=u.get("given_name", local), family_name=u.get("family_name", ""),
                    aliases=list(u.get("aliases", [])), groups=groups, flags=flags)
        for login in [upn] + user.aliases:
            self._users[login.lower()] = user

    def tenant(self, segment: str) -> Optional[Tenant]:
        return self._tenant_keys.get(segment.lower())

    def tenant_of_username(self, username: str) -> Optional[Tenant]:
        if "@" not in username:
            return None
        return self._tenant_keys.get(username.rsplit("@", 1)[1].strip().lower())

    def user(self, login: str) -> Optional[User]:
        return self._users.get(login.lower())

    def app(self, client_id: str) -> Optional[App]:
        return self.apps.get(client_id.lower())


# --------------------------------------------------------------------------
# OAuth errors in Microsoft's shape

class OAuthError(Exception):
    def __init__(self, error: str, code: int, message: str, *, status: Optional[int] = None,
                 suberror: Optional[str] = None):
        super().__init__(f"AADSTS{code}: {message}")
        self.error = error
        self.code = code
        self.message = message
        self.status = status or (401 if error == "invalid_client" else 400)
        self.suberror = suberror


def missing_param(name: str) -> OAuthError:
    return OAuthError("invalid_request", 900144,
                      f"The request body must contain the following parameter: '{name}'.")


def tenant_not_found(segment: str) -> OAuthError:
    return OAuthError("invalid_request", 90002,
                      f"Tenant '{segment}' not found. Check to make sure you have the correct "
                      "tenant ID and are signing into the correct cloud. Check with your "
                      "subscription administrator, this may happen if there are no active "
                      "subscriptions for the tenant.")


def invalid_scope(scope: str) -> OAuthError:
    return OAuthError("invalid_scope", 70011,
                      "The provided request must include a 'scope' input parameter. The "
                      "provided value for the input parameter 'scope' is not valid. "
                      f"The scope {scope} is not valid.")


def malformed_assertion(reason: str) -> OAuthError:
    return OAuthError("invalid_client", 50027, f"JWT token is invalid or malformed. {reason}")


def error_body(err: OAuthError, trace_id: str, correlation_id: str, authority: str) -> dict:
    stamp = ms_timestamp()
    body: dict[str, Any] = {
        "error": err.error,
        "error_description": (f"AADSTS{err.code}: {err.message}\r\nTrace ID: {trace_id}\r\n"
                              f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}"),
        "error_codes": [err.code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{authority}/error?code={err.code}",
    }
    if err.suberror:
        body["suberror"] = err.suberror
    return body


# --------------------------------------------------------------------------
# JWTs

class Signer:
    def __init__(self, key: rsa.RSAPrivateKey, cert: x509.Certificate, kid: str):
        self.key = key
        self.cert = cert
        self.kid = kid

    def sign(self, claims: dict, *, nonce: bool = False) -> str:
        header: dict[str, Any] = {"typ": "JWT"}
        if nonce:
            header["nonce"] = random_id(32)
        header.update({"alg": "RS256", "x5t": self.kid, "kid": self.kid})
        signing_input = f"{b64url(compact_json(header))}.{b64url(compact_json(claims))}"
        sig = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(sig)}"

    def verify(self, token: str) -> Optional[dict]:
        """Claims of a token this emulator signed, or None."""
        try:
            head, body, sig = token.split(".")
            self.key.public_key().verify(b64url_decode(sig), f"{head}.{body}".encode("ascii"),
                                         padding.PKCS1v15(), hashes.SHA256())
            claims = json.loads(b64url_decode(body))
        except (ValueError, InvalidSignature, UnicodeError):
            return None
        return claims if isinstance(claims, dict) else None

    def jwk(self, issuer: str) -> dict:
        numbers = self.key.public_key().public_numbers()
        der = self.cert.public_bytes(serialization.Encoding.DER)
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
                "n": int_b64(numbers.n), "e": int_b64(numbers.e),
                "x5c": [base64.b64encode(der).decode("ascii")], "issuer": issuer}


def parse_jwt(token: str) -> tuple[dict, dict, bytes, bytes]:
    """Split a compact JWT: (header, claims, signature, signing input). ValueError if bad."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise ValueError("a JWT has three parts")
    header = json.loads(b64url_decode(parts[0]).decode("utf-8"))
    claims = json.loads(b64url_decode(parts[1]).decode("utf-8"))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("header and claims must be JSON objects")
    return header, claims, b64url_decode(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii")


def assertion_jti(token: str) -> Optional[str]:
    """The jti of a client assertion as sent (not verified), for the request log."""
    try:
        jti = parse_jwt(token)[1].get("jti")
    except (ValueError, UnicodeError):
        return None
    return jti if isinstance(jti, str) else None


# --------------------------------------------------------------------------
# mutable state: counters, faults, options, grants, request log

FAULT_KINDS = {"delay", "status", "throttle", "malformed", "wrong_types", "missing_fields",
               "expires", "huge", "close", "redirect", "drop", "tenant", "opaque", "message",
               "describe"}
FAULT_ENDPOINTS = {"token", "devicecode", "discovery", "keys", "any"}
ENDPOINTS = ("token", "devicecode", "discovery", "keys")


@dataclass
class Fault:
    kind: str
    count: int
    endpoint: str
    params: dict

    def describe(self) -> dict:
        return {"kind": self.kind, "count": self.count, "endpoint": self.endpoint, **self.params}


@dataclass
class RefreshGrant:
    upn: str
    client_id: str
    tenant_id: str
    sid: str
    amr: list[str]
    scope: str
    issued: float
    revoked: bool = False


@dataclass
class DeviceGrant:
    device_code: str
    user_code: str
    client_id: str
    tenant: str
    scope: str
    interval: int
    expires_at: float
    state: str = "pending"            # pending | approved | denied | expired | redeemed
    upn: Optional[str] = None
    last_poll: Optional[float] = None


@dataclass
class IssuedToken:
    kind: str                        # user | app
    upn: Optional[str]
    client_id: str
    issued: float
    exp: float
    revoked: bool = False


def parse_fault(spec: dict) -> Fault:
    kind = spec.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
    count = spec.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count == 0 or count < -1:
        raise ValueError("count must be a positive integer or -1")
    endpoint = spec.get("endpoint", "token")
    if endpoint not in FAULT_ENDPOINTS:
        raise ValueError(f"endpoint must be one of {sorted(FAULT_ENDPOINTS)}")
    params = {k: v for k, v in spec.items() if k not in ("kind", "count", "endpoint")}
    number = (int, float)
    if kind == "delay":
        params.setdefault("seconds", 1.0)
        if not isinstance(params["seconds"], number) or not 0 <= params["seconds"] <= 600:
            raise ValueError("delay needs 'seconds' between 0 and 600")
    elif kind == "status":
        params.setdefault("status", 500)
        if not isinstance(params["status"], int) or not 200 <= params["status"] <= 599:
            raise ValueError("status needs 'status' between 200 and 599")
    elif kind == "throttle":
        params.setdefault("retry_after", 1)
    elif kind == "expires":
        if not isinstance(params.get("expires_in"), int) or isinstance(params["expires_in"], bool):
            raise ValueError("expires needs an integer 'expires_in'")
    elif kind == "tenant":
        params.setdefault("tid", FOREIGN_TID)
        if not isinstance(params["tid"], str) or not params["tid"]:
            raise ValueError("tenant needs a string 'tid'")
    elif kind == "message":
        if not isinstance(params.get("message"), str):
            raise ValueError("message needs a string 'message'")
    elif kind == "describe":
        params.setdefault("error", "invalid_grant")
        if not isinstance(params.get("description"), str) or \
                not isinstance(params["error"], str):
            raise ValueError("describe needs a string 'description'")
    elif kind == "huge":
        params.setdefault("size", 10 * 1024 * 1024)
        if not isinstance(params["size"], int) or not 100 <= params["size"] <= 1 << 30:
            raise ValueError("huge needs 'size' between 100 and 1 GiB")
    return Fault(kind, count, endpoint, params)


class State:
    """All mutable emulator state; every access holds the lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.refresh_tokens: dict[str, RefreshGrant] = {}
        self.devices: dict[str, DeviceGrant] = {}
        self.user_codes: dict[str, str] = {}
        self.access_tokens: dict[str, IssuedToken] = {}
        self.jtis: dict[str, float] = {}
        self.issued: list[str] = []   # every secret handed out, for leak tests
        self.generation = 0    # bumped by each reset; connections remember theirs
        self.reset()

    # ---- counters, faults, options, log
    def reset(self, tokens: bool = False) -> None:
        with self.lock:
            self.total = 0
            self.connections = 0
            self.generation += 1
            self.by_endpoint = dict.fromkeys(ENDPOINTS, 0)
            self.by_grant: collections.Counter = collections.Counter()
            self.by_user: collections.Counter = collections.Counter()
            self.by_client: collections.Counter = collections.Counter()
            self.by_status: collections.Counter = collections.Counter()
            self.faults: list[Fault] = []
            self.options = dict(DEFAULT_OPTIONS)
            self.log: collections.deque = collections.deque(maxlen=REQUEST_LOG_SIZE)
            if tokens:
                self.refresh_tokens.clear()
                self.devices.clear()
                self.user_codes.clear()
                self.access_tokens.clear()
                self.jtis.clear()
                self.issued.clear()

    def begin_request(self, record: dict, connection_generation: int) -> int:
        """Counts the request, and its connection when this is the first
        request it carries since the last reset; returns the generation to
        remember on the connection."""
        with self.lock:
            self.total += 1
            self.connections += int(connection_generation != self.generation)
            endpoint = record["endpoint"]
            self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1
            self.log.append(record)
            return self.generation

    def count_form(self, grant: Optional[str], user: Optional[str], client: Optional[str]) -> None:
        with self.lock:
            if grant:
                self.by_grant[grant] += 1
            if user:
                self.by_user[user] += 1
            if client:
                self.by_client[client] += 1

    def finish_request(self, record: dict, status: int) -> None:
        with self.lock:
            record["status"] = status
            self.by_status[str(status)] += 1

    def counters(self) -> dict:
        with self.lock:
            return {"total": self.total, "connections": self.connections,
                    "by_endpoint": dict(self.by_endpoint),
                    "by_grant": dict(self.by_grant), "by_user": dict(self.by_user),
                    "by_client": dict(self.by_client), "by_status": dict(self.by_status)}

    def requests(self, last: Optional[int]) -> list[dict]:
        with self.lock:
            items = [dict(r) for r in self.log]
        return items[-last:] if last else items

    def add_fault(self, fault: Fault) -> int:
        with self.lock:
            self.faults.append(fault)
            return len(self.faults)

    def take_fault(self, endpoint: str) -> Optional[Fault]:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.endpoint in (endpoint, "any"):
                    if fault.count > 0:
                        fault.count -= 1
                        if fault.count == 0:
                            del self.faults[i]
                    return Fault(fault.kind, 1, fault.endpoint, dict(fault.params))
            return None

    def option(self, name: str) -> int:
        with self.lock:
            return self.options[name]

    def set_options(self, values: dict) -> dict:
        for name, value in values.items():
            if name not in DEFAULT_OPTIONS:
                raise ValueError(f"unknown option {name!r}; one of {sorted(DEFAULT_OPTIONS)}")
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"option {name} must be an integer")
            if name != "expires_in" and value < 0:
                raise ValueError(f"option {name} must not be negative")
        with self.lock:
            self.options.update(values)
            return dict(self.options)

    # ---- every token and device code handed out (GET /_emu/issued)
    def remember_issued(self, secret: str) -> str:
        with self.lock:
            if len(self.issued) < ISSUED_LOG_SIZE:
                self.issued.append(secret)
        return secret

    def issued_secrets(self) -> list[str]:
        with self.lock:
            return list(self.issued)

    # ---- refresh tokens
    def new_refresh_token(self, grant: RefreshGrant) -> str:
        token = self.remember_issued("1.A" + random_id(700))
        with self.lock:
            self.refresh_tokens[token] = grant
        return token

    def refresh_grant(self, token: str, redeem: bool = False) -> Optional[RefreshGrant]:
        with self.lock:
            if redeem:
                return self.refresh_tokens.pop(token, None)
            return self.refresh_tokens.get(token)

    # ---- access tokens
    def record_access_token(self, uti: str, issued: IssuedToken) -> None:
        with self.lock:
            if len(self.access_tokens) >= 200000:
                now = time.time()
                self.access_tokens = {k: v for k, v in self.access_tokens.items()
                                      if v.exp > now}
            self.access_tokens[uti] = issued

    def access_token(self, uti: str) -> Optional[IssuedToken]:
        with self.lock:
            return self.access_tokens.get(uti)

    def revoke(self, upn: Optional[str], client_id: Optional[str]) -> dict:
        now = time.time()
        with self.lock:
            refresh = 0
            access = 0
            for grant in self.refresh_tokens.values():
                if (upn and grant.upn.lower() == upn.lower()) or \
                        (client_id and not upn and grant.client_id.lower() == client_id.lower()):
                    if not grant.revoked:
                        grant.revoked = True
                        refresh += 1
            for tok in self.access_tokens.values():
                match = (upn and tok.upn and tok.upn.lower() == upn.lower()) or \
                        (client_id and not upn and tok.client_id.lower() == client_id.lower())
                if match and tok.issued <= now and not tok.revoked:
                    tok.revoked = True
                    access += 1
        return {"refresh_tokens_revoked": refresh, "access_tokens_revoked": access}

    # ---- client assertion replay protection
    def use_jti(self, jti: str, until: float) -> bool:
        """Remember a jti; False when it was already used and is still alive."""
        now = time.time()
        with self.lock:
            if len(self.jtis) > 10000:
                self.jtis = {k: v for k, v in self.jtis.items() if v > now}
            seen = self.jtis.get(jti)
            if seen is not None and seen > now:
                return False
            self.jtis[jti] = until
            return True

    # ---- device codes
    def new_device(self, client_id: str, tenant: str, scope: str) -> DeviceGrant:
        with self.lock:
            interval = self.options["device_interval"]
            expires = self.options["device_expires_in"]
            while True:
                user_code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
                                    for _ in range(8))
                if user_code not in self.user_codes:
                    break
            grant = DeviceGrant(device_code="DAQABIQEAAAD" + random_id(160), user_code=user_code,
                                client_id=client_id, tenant=tenant, scope=scope,
                                interval=interval, expires_at=time.time() + expires)
            self.devices[grant.device_code] = grant
            self.remember_issued(grant.device_code)
            self.user_codes[user_code] = grant.device_code
            return grant

    def device_by_user_code(self, user_code: str) -> Optional[DeviceGrant]:
        with self.lock:
            code = self.user_codes.get(user_code.strip().upper())
            return self.devices.get(code) if code else None

    def pending_devices(self) -> list[dict]:
        now = time.time()
        with self.lock:
            return [{"user_code": d.user_code, "client_id": d.client_id, "client": d.client_id,
                     "scope": d.scope, "tenant": d.tenant, "state": d.state,
                     "expires_in": int(d.expires_at - now)}
                    for d in self.devices.values()
                    if d.state == "pending" and d.expires_at > now]

    def poll_device(self, device_code: str, client_id: str) -> DeviceGrant:
        """Advance a device code on a poll; returns it approved, or raises the error."""
        now = time.time()
        with self.lock:
            grant = self.devices.get(device_code)
            if grant is None:
                raise OAuthError("bad_verification_code", 70019, "Verification code expired.")
            if grant.client_id.lower() != client_id.lower():
                raise OAuthError("invalid_grant", 70000,
                                 "The provided value for the 'device_code' is not valid. "
                                 "It was issued to another client.")
            if grant.state == "redeemed":
                raise OAuthError("invalid_grant", 54005,
                                 "OAuth2 Authorization code was already redeemed, please retry "
                                 "with a new valid code or use an existing refresh token.")
            if grant.state == "expired" or (grant.state != "approved" and now >= grant.expires_at):
                grant.state = "expired"
                raise OAuthError("expired_token", 70020,
                                 "The provided value for the input parameter 'device_code' is "
                                 "not valid. This device code has expired.")
            if grant.state == "denied":
                if self.options["strict_rfc"]:
                    raise OAuthError("access_denied", 70000,
                                     "The end-user denied the authorization request.")
                raise OAuthError("authorization_declined", 70000,
                                 "The user declined the authorization request.")
            if grant.state == "pending":
                too_fast = grant.last_poll is not None and \
                    now - grant.last_poll < grant.interval * 0.8
                grant.last_poll = now
                if too_fast:
                    raise OAuthError("slow_down", 70016,
                                     "OAuth 2.0 device flow error. Polling too fast: slow_down. "
                                     f"Poll at most every {grant.interval} seconds.")
                raise OAuthError("authorization_pending", 70016,
                                 "OAuth 2.0 device flow error. Authorization is pending. "
                                 "Continue polling.")
            grant.state = "redeemed"
            return grant


# --------------------------------------------------------------------------
# scopes

@dataclass
class ScopeRequest:
    resource: str             # canonical resource (aud)
    prefix: str               # the resource prefix as the client wrote it
    names: list[str]          # canonical permission names, request order
    oidc: set[str]

    def response_scope(self) -> str:
        return " ".join(f"{self.prefix}/{n}" for n in self.names)

    def scp(self) -> str:
        return " ".join(sorted(set(self.names), key=str.lower))


def split_scope(token: str) -> tuple[Optional[str], str]:
    """'https://host/Name' -> ('https://host', 'Name'); 'Name' -> (None, 'Name')."""
    if "://" in token:
        scheme_end = token.index("://") + 3
        slash = token.rfind("/")
        if slash < scheme_end:
            return token, ""
        return token[:slash], token[slash + 1:]
    return None, token


def parse_delegated_scopes(scope: str) -> ScopeRequest:
    resource: Optional[str] = None
    prefix = ""
    names: list[str] = []
    oidc: set[str] = set()
    for token in scope.split():
        if token.lower() in OIDC_SCOPES:
            oidc.add(token.lower())
            continue
        given_prefix, name = split_scope(token)
        res = (given_prefix or GRAPH).lower().rstrip("/")
        if res not in RESOURCES or not name:
            raise invalid_scope(token)
        if resource is not None and resource != res:
            raise OAuthError("invalid_scope", 28000,
                             "Provided value for the input parameter scope is not valid because "
                             f"it contains more than one resource. Scope {scope} is not valid.")
        known, default = RESOURCES[res]
        if name.lower() == ".default":
            granted = default
        else:
            granted = [k for k in known if k.lower() == name.lower()]
            if not granted:
                raise invalid_scope(token)
        resource = res
        prefix = given_prefix or GRAPH
        names += [g for g in granted if g not in names]
    if resource is None:
        resource, prefix, names = GRAPH, GRAPH, ["User.Read"]
    return ScopeRequest(resource, prefix.rstrip("/"), names, oidc)


# --------------------------------------------------------------------------
# the OAuth service (token and device-code endpoints)

@dataclass
class RequestContext:
    trace_id: str
    correlation_id: str
    host: str
    path: str
    record: dict
    authorization: Optional[str] = None
    expires_override: Optional[int] = None
    tid_override: Optional[str] = None       # fault "tenant"
    opaque: bool = False                     # fault "opaque"
    message_override: Optional[str] = None   # fault "message"


class OAuthService:
    def __init__(self, directory: Directory, state: State, signer: Signer, authority: str):
        self.dir = directory
        self.state = state
        self.signer = signer
        self.authority = authority          # https://127.0.0.1:PORT

    # ---- tenants
    def url_tenant(self, segment: str) -> Optional[Tenant]:
        """The tenant named in the URL; None for organizations/common/consumers."""
        if segment.lower() in SPECIAL_TENANTS:
            return None
        tenant = self.dir.tenant(segment)
        if tenant is None:
            raise tenant_not_found(segment)
        return tenant

    # ---- client authentication
    def authenticate_client(self, form: dict, tenant: Optional[Tenant], directory_label: str,
                            segment: str, ctx: RequestContext) -> tuple[App, str]:
        client_id = form["client_id"]
        app = self.dir.app(client_id)
        if app is None or (tenant is not None and app.tenant_id != tenant.id and not app.multi_tenant):
            raise OAuthError("unauthorized_client", 700016,
                             f"Application with identifier '{client_id}' was not found in the "
                             f"directory '{directory_label}'. This can happen if the application "
                             "has not been installed by the administrator of the tenant or "
                             "consented to by any user in the tenant. You may have sent your "
                             "authentication request to the wrong tenant.")
        secret = form.get("client_secret") or ""
        basic = self._basic_secret(ctx.authorization, app)
        if basic is not None:
            secret = secret or basic
        assertion = form.get("client_assertion") or ""
        if app.public:
            if secret or assertion:
                raise OAuthError("invalid_client", 700025,
                                 "Client is public so neither 'client_assertion' nor "
                                 "'client_secret' should be presented.")
            method = "none"
        elif secret and assertion:
            raise OAuthError("invalid_request", 9000411,
                             "The request is not properly formatted. Both 'client_secret' and "
                             "'client_assertion' were presented; send only one.")
        elif secret:
            if app.secret is None or not consteq(secret, app.secret):
                raise OAuthError("invalid_client", 7000215,
                                 "Invalid client secret provided. Ensure the secret being sent in "
                                 "the request is the client secret value, not the client secret "
                                 f"ID, for a secret added to app '{app.client_id}'.")
            method = "secret_basic" if basic is not None and not form.get("client_secret") \
                else "secret"
        elif assertion:
            self.check_assertion(app, form, segment, tenant, ctx)
            method = "assertion"
        else:
            raise OAuthError("invalid_client", 7000218,
                             "The request body must contain the following parameter: "
                             "'client_assertion' or 'client_secret'.")
        ctx.record["client_auth"] = method
        if not app.consent:
            raise OAuthError("invalid_grant", 65001,
                             "The user or administrator has not consented to use the application "
                             f"with ID '{app.client_id}' named '{app.name}'. Send an interactive "
                             "authorization request for this user and resource.")
        return app, method

    @staticmethod
    def _basic_secret(authorization: Optional[str], app: App) -> Optional[str]:
        if not authorization or not authorization.lower().startswith("basic "):
            return None
        try:
            raw = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeError):
            return None
        user, sep, password = raw.partition(":")
        if not sep or user.lower() != app.client_id.lower():
            return None
        return password

    def check_assertion(self, app: App, form: dict, segment: str, tenant: Optional[Tenant],
                        ctx: RequestContext) -> None:
        atype = form.get("client_assertion_type")
        if not atype:
            raise missing_param("client_assertion_type")
        if atype != JWT_BEARER:
            raise malformed_assertion(f"Unsupported client_assertion_type '{atype}'.")
        try:
            header, claims, sig, signing_input = parse_jwt(form["client_assertion"])
        except (ValueError, UnicodeError):
            raise malformed_assertion("The assertion is not a compact JWS of three "
                                      "base64url parts.") from None
        alg = header.get("alg")
        ctx.record["assertion_alg"] = alg
        if alg not in ("RS256", "PS256"):
            raise malformed_assertion(f"Unsupported signing algorithm '{alg}'; use RS256 or "
                                      "PS256.")
        self._check_thumbprint(app, header, ctx)
        pad = padding.PKCS1v15() if alg == "RS256" else \
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        try:
            app.cert_public_key.verify(sig, signing_input, pad, hashes.SHA256())
        except InvalidSignature:
            raise OAuthError("invalid_client", 700027,
                             "Client assertion failed signature validation. [Reason - The "
                             "provided signature value did not match the expected signature "
                             "value.]") from None
        self._check_assertion_claims(app, claims, segment, tenant, ctx)

    def _check_thumbprint(self, app: App, header: dict, ctx: RequestContext) -> None:
        if "x5t#S256" in header:
            ctx.record["assertion_thumbprint"] = "x5t#S256"
            given, expected = header["x5t#S256"], app.cert_sha256
        else:
            ctx.record["assertion_thumbprint"] = "x5t" if "x5t" in header else None
            given, expected = header.get("x5t"), app.cert_sha1
        try:
            raw = b64url_decode(given) if isinstance(given, str) else b""
        except ValueError:
            raw = b""
        if not app.certificate or not raw or not hmac.compare_digest(raw, expected):
            shown = raw.hex().upper() if raw else str(given)
            raise OAuthError("invalid_client", 700027,
                             "Client assertion failed signature validation. [Reason - The key "
                             f"was not found., Thumbprint of key used by client: '{shown}', "
                             "Please visit the Azure Portal, Graph Explorer or directly use "
                             "MS Graph to see configured keys for app Id "
                             f"'{app.client_id}'.]")

    def _check_assertion_claims(self, app: App, claims: dict, segment: str,
                                tenant: Optional[Tenant], ctx: RequestContext) -> None:
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        allowed = set()
        for host in {urlsplit(self.authority).netloc, ctx.host}:
            for ten in {segment} | ({tenant.id} if tenant else set()):
                allowed.add(f"https://{host}/{ten}/oauth2/v2.0/token")
        if not any(isinstance(a, str) and a in allowed for a in auds):
            raise malformed_assertion(f"Invalid audience '{aud}': the assertion's aud must be "
                                      "the token endpoint URL.")
        if str(claims.get("iss")).lower() != app.client_id.lower() or \
                str(claims.get("sub")).lower() != app.client_id.lower():
            raise OAuthError("invalid_client", 700021,
                             "Client assertion application identifier doesn't match "
                             "'client_id' parameter. Review the documentation at "
                             "https://learn.microsoft.com/entra/identity-platform/"
                             "certificate-credentials .")
        exp, nbf = claims.get("exp"), claims.get("nbf")
        number = (int, float)
        if not isinstance(exp, number) or isinstance(exp, bool) or \
                (nbf is not None and (not isinstance(nbf, number) or isinstance(nbf, bool))):
            raise malformed_assertion("The exp claim is missing or not a number.")
        now = time.time()
        if exp + CLOCK_SKEW < now or (nbf is not None and nbf - CLOCK_SKEW > now):
            valid_from = iso_time(nbf) if nbf is not None else "(none)"
            raise OAuthError("invalid_client", 700024,
                             "Client assertion is not within its valid time range. Current "
                             f"time: {iso_time(now)}, assertion valid from {valid_from}, expiry "
                             f"time of assertion {iso_time(exp)}. Review the documentation at "
                             "https://learn.microsoft.com/entra/identity-platform/"
                             "certificate-credentials .")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise malformed_assertion("The jti claim is missing.")
        if not self.state.use_jti(jti, max(exp, now) + CLOCK_SKEW):
            raise malformed_assertion("The jti claim was already used (replay).")

    # ---- the token endpoint
    def token(self, segment: str, form: dict, ctx: RequestContext) -> dict:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise missing_param("grant_type")
        tenant = self.url_tenant(segment)
        handler = {
            "password": self.grant_password,
            "client_credentials": self.grant_client_credentials,
            "refresh_token": self.grant_refresh_token,
            DEVICE_GRANT: self.grant_device_code,
        }.get(grant_type)
        if handler is None:
            raise OAuthError("unsupported_grant_type", 70003,
                             f"The app requested an unsupported grant type '{grant_type}'.")
        if not form.get("client_id"):
            raise missing_param("client_id")
        return handler(segment, tenant, form, ctx)

    def grant_password(self, segment: str, tenant: Optional[Tenant], form: dict,
                       ctx: RequestContext) -> dict:
        username = form.get("username")
        if not username:
            raise missing_param("username")
        if not form.get("password"):
            raise missing_param("password")
        if not form.get("scope"):
            raise missing_param("scope")
        if tenant is None:
            tenant = self.dir.tenant_of_username(username)
        label = tenant.id if tenant else segment
        app, method = self.authenticate_client(form, tenant, label, segment, ctx)
        scopes = parse_delegated_scopes(form["scope"])
        user = self.dir.user(username)
        if user is None or tenant is None or user.tenant_id != tenant.id:
            raise OAuthError("invalid_grant", 50034,
                             f"The user account {{EUII Hidden}} does not exist in the {label} "
                             "directory. To sign into this application, the account must be "
                             "added to the directory.")
        if "locked" in user.flags:
            raise OAuthError("invalid_grant", 50053,
                             "Your account is locked. You've tried to sign in too many times "
                             "with an incorrect user ID or password.")
        if not consteq(form["password"], user.password):
            raise OAuthError("invalid_grant", 50126,
                             "Error validating credentials due to invalid username or password.")
        self.check_user_flags(user, scopes)
        return self.issue_user_tokens(app, method, user, scopes, ctx, sid=str(uuid.uuid4()),
                                      amr=["pwd"], want_refresh="offline_access" in scopes.oidc)

    @staticmethod
    def check_user_flags(user: User, scopes: ScopeRequest) -> None:
        resource = scopes.resource
        if "disabled" in user.flags:
            raise OAuthError("invalid_grant", 50057, "The user account is disabled.")
        if "password_expired" in user.flags:
            raise OAuthError("invalid_grant", 50055, "The password is expired.",
                             suberror="user_password_expired")
        if "mfa" in user.flags:
            raise OAuthError("invalid_grant", 50076,
                             "Due to a configuration change made by your administrator, or "
                             "because you moved to a new location, you must use multi-factor "
                             f"authentication to access '{resource}'.", suberror="basic_action")
        if "mfa_registration" in user.flags:
            raise OAuthError("invalid_grant", 50079,
                             "Due to a configuration change made by your administrator, or "
                             "because you moved to a new location, you must enroll in "
                             f"multi-factor authentication to access '{resource}'.",
                             suberror="basic_action")
        if "conditional_access" in user.flags:
            raise OAuthError("invalid_grant", 53003,
                             "Access has been blocked by Conditional Access policies. The access "
                             "policy does not allow token issuance.", suberror="message_only")
        if "external_mfa" in user.flags:
            raise OAuthError("invalid_grant", 50158,
                             "External security challenge not satisfied. User will be redirected "
                             "to another page or authentication provider to satisfy additional "
                             "authentication challenges.", suberror="basic_action")

    def grant_client_credentials(self, segment: str, tenant: Optional[Tenant], form: dict,
                                 ctx: RequestContext) -> dict:
        if tenant is None:
            raise OAuthError("invalid_request", 50059,
                             "No tenant-identifying information found in either the request or "
                             "implied by any provided credentials.")
        if not form.get("scope"):
            raise missing_param("scope")
        app, method = self.authenticate_client(form, tenant, segment, segment, ctx)
        if app.public:
            raise OAuthError("invalid_client", 7000218,
                             "The request body must contain the following parameter: "
                             "'client_assertion' or 'client_secret'.")
        scope = form["scope"]
        parts = scope.split()
        prefix, name = split_scope(parts[0]) if len(parts) == 1 else (None, "")
        if prefix is None or name != ".default" or prefix.lower().rstrip("/") not in RESOURCES:
            raise invalid_scope(scope)
        return self.issue_app_token(app, method, tenant, prefix.lower().rstrip("/"), ctx)

    def grant_refresh_token(self, segment: str, tenant: Optional[Tenant], form: dict,
                            ctx: RequestContext) -> dict:
        token = form.get("refresh_token")
        if not token:
            raise missing_param("refresh_token")
        label = tenant.id if tenant else segment
        app, method = self.authenticate_client(form, tenant, label, segment, ctx)
        grant = self.state.refresh_grant(token, bool(self.state.option("strict_rotation")))
        if grant is None or (tenant is not None and grant.tenant_id != tenant.id):
            raise OAuthError("invalid_grant", 9002313,
                             "Invalid request. Request is malformed or invalid.")
        if grant.revoked:
            raise OAuthError("invalid_grant", 50173,
                             "The provided grant has expired due to it being revoked, a fresh "
                             "auth token is needed. The user might have changed or reset their "
                             "password. The grant was issued on "
                             f"'{iso_time(grant.issued)}' and the TokensValidFrom date (before "
                             "which tokens are not valid) for this user is "
                             f"'{iso_time(time.time())}'.")
        if grant.client_id.lower() != app.client_id.lower():
            raise OAuthError("invalid_grant", 70000,
                             "The provided value for the 'refresh_token' is not valid. "
                             "It was issued to another client.")
        scopes = parse_delegated_scopes(form.get("scope") or grant.scope)
        if self.state.option("strict_rfc") and form.get("scope"):
            self.check_within_grant(scopes, parse_delegated_scopes(grant.scope))
        user = self.dir.user(grant.upn)
        assert user is not None
        if "disabled" in user.flags:
            raise OAuthError("invalid_grant", 50057, "The user account is disabled.")
        return self.issue_user_tokens(app, method, user, scopes, ctx, sid=grant.sid,
                                      amr=grant.amr, want_refresh=True)

    @staticmethod
    def check_within_grant(asked: ScopeRequest, granted: ScopeRequest) -> None:
        """RFC 6749 section 6: a refresh asks for no scope beyond the grant."""
        beyond = [n for n in asked.names if n not in granted.names] \
            if asked.resource == granted.resource else asked.names
        beyond += sorted(asked.oidc - granted.oidc)
        if beyond:
            raise OAuthError("invalid_scope", 70011,
                             "The requested scope exceeds the scope granted by the resource "
                             f"owner: {' '.join(beyond)}.")

    def grant_device_code(self, segment: str, tenant: Optional[Tenant], form: dict,
                          ctx: RequestContext) -> dict:
        code = form.get("device_code")
        if not code:
            raise missing_param("device_code")
        label = tenant.id if tenant else segment
        app, method = self.authenticate_client(form, tenant, label, segment, ctx)
        grant = self.state.poll_device(code, app.client_id)
        user = self.dir.user(grant.upn or "")
        assert user is not None
        scopes = parse_delegated_scopes(grant.scope)
        return self.issue_user_tokens(app, method, user, scopes, ctx, sid=str(uuid.uuid4()),
                                      amr=["pwd", "mfa"],
                                      want_refresh="offline_access" in scopes.oidc)

    # ---- the device-code endpoint
    def devicecode(self, segment: str, form: dict, ctx: RequestContext) -> dict:
        tenant = self.url_tenant(segment)
        client_id = form.get("client_id")
        if not client_id:
            raise missing_param("client_id")
        app = self.dir.app(client_id)
        if app is None or (tenant is not None and app.tenant_id != tenant.id and not app.multi_tenant):
            raise OAuthError("unauthorized_client", 700016,
                             f"Application with identifier '{client_id}' was not found in the "
                             f"directory '{segment}'. This can happen if the application has "
                             "not been installed by the administrator of the tenant or consented "
                             "to by any user in the tenant. You may have sent your "
                             "authentication request to the wrong tenant.")
        scope = form.get("scope")
        if not scope:
            raise missing_param("scope")
        parse_delegated_scopes(scope)
        strict = self.state.option("strict_rfc")
        if strict:
            # RFC 8628 section 3.1: a confidential client authenticates here too.
            self.authenticate_client(form, tenant, segment, segment, ctx)
        grant = self.state.new_device(app.client_id, tenant.id if tenant else segment.lower(),
                                      scope)
        uri = "https://microsoft.com/devicelogin"
        message = f"To sign in, use a web browser to open the page {uri} and enter the " \
                  f"code {grant.user_code} to authenticate."
        if ctx.message_override is not None:
            message = ctx.message_override.replace("{code}", grant.user_code)
        if strict:
            uri = f"{self.authority}/device"
            return {"device_code": grant.device_code, "user_code": grant.user_code,
                    "verification_uri": uri,
                    "verification_uri_complete": f"{uri}?user_code={grant.user_code}",
                    "expires_in": int(round(grant.expires_at - time.time())),
                    "interval": grant.interval}
        return {"user_code": grant.user_code, "device_code": grant.device_code,
                "verification_uri": uri,
                "expires_in": int(round(grant.expires_at - time.time())),
                "interval": grant.interval,
                "message": message}

    # ---- token issuance
    def lifetimes(self, ctx: RequestContext) -> tuple[int, int]:
        expires = ctx.expires_override if ctx.expires_override is not None \
            else self.state.option("expires_in")
        ext = ctx.expires_override if ctx.expires_override is not None \
            else (self.state.option("ext_expires_in") or expires)
        return expires, ext

    @staticmethod
    def appidacr(method: str) -> str:
        return {"none": "0", "assertion": "2"}.get(method, "1")

    def issue_user_tokens(self, app: App, method: str, user: User, scopes: ScopeRequest,
                          ctx: RequestContext, *, sid: str, amr: list[str],
                          want_refresh: bool) -> dict:
        if self.state.option("strict_rfc"):
            kept = [n for n in scopes.names if n != STRICT_WITHHELD]
            scopes = ScopeRequest(scopes.resource, scopes.prefix, kept or scopes.names,
                                  scopes.oidc)
        expires, ext = self.lifetimes(ctx)
        now = int(time.time())
        tid = ctx.tid_override or user.tenant_id
        uti = random_id(16)
        claims = {
            "aud": scopes.resource, "iss": f"https://sts.windows.net/{tid}/",
            "iat": now, "nbf": now, "exp": now + expires,
            "acct": 0, "acr": "1", "aio": random_id(48), "amr": amr,
            "app_displayname": app.name, "appid": app.client_id,
            "appidacr": self.appidacr(method),
            "family_name": user.family_name, "given_name": user.given_name,
            "idtyp": "user", "ipaddr": "127.0.0.1", "name": user.name, "oid": user.oid,
            "puid": hashlib.sha1(user.oid.encode()).hexdigest()[:16].upper(),
            "rh": "0.A" + random_id(40) + ".", "scp": scopes.scp(), "sid": sid,
            "sub": b64url(hashlib.sha256(f"{user.oid}:{app.client_id}".encode()).digest()),
            "tid": tid, "unique_name": user.upn, "upn": user.upn, "uti": uti, "ver": "1.0",
            "wids": DEFAULT_USER_WIDS,
        }
        if ctx.opaque:
            # Microsoft documents access tokens as opaque to clients: this one is not a JWT.
            access_token = self.state.remember_issued("EwB" + random_id(300))
        else:
            access_token = self.state.remember_issued(self.signer.sign(claims, nonce=True))
            self.state.record_access_token(uti, IssuedToken("user", user.upn, app.client_id,
                                                            time.time(), now + expires))
        body: dict[str, Any] = {"token_type": "Bearer", "scope": scopes.response_scope(),
                                "expires_in": expires, "ext_expires_in": ext,
                                "access_token": access_token}
        if want_refresh:
            body["refresh_token"] = self.state.new_refresh_token(RefreshGrant(
                upn=user.upn, client_id=app.client_id, tenant_id=tid, sid=sid, amr=amr,
                scope=" ".join(sorted(scopes.oidc)) + " " + scopes.response_scope(),
                issued=time.time()))
        if "openid" in scopes.oidc and not ctx.opaque:
            body["id_token"] = self.id_token(app, user, now, expires, tid)
        return body

    def id_token(self, app: App, user: User, now: int, expires: int, tid: str) -> str:
        claims: dict[str, Any] = {
            "aud": app.client_id, "iss": f"{MS_LOGIN}/{tid}/v2.0",
            "iat": now, "nbf": now, "exp": now + expires,
            "aio": random_id(48), "name": user.name, "oid": user.oid,
            "preferred_username": user.upn, "rh": "0.A" + random_id(40) + ".",
            "sub": b64url(hashlib.sha256(f"{user.oid}:{app.client_id}:id".encode()).digest()),
            "tid": tid, "uti": random_id(16), "ver": "2.0",
        }
        if user.groups:
            if len(user.groups) > self.state.option("groups_limit"):
                claims["_claim_names"] = {"groups": "src1"}
                claims["_claim_sources"] = {"src1": {
                    "endpoint": f"https://graph.windows.net/{tid}/users/{user.oid}/"
                                "getMemberObjects"}}
            else:
                claims["groups"] = list(user.groups)
        return self.state.remember_issued(self.signer.sign(claims))

    def issue_app_token(self, app: App, method: str, tenant: Tenant, resource: str,
                        ctx: RequestContext) -> dict:
        expires, ext = self.lifetimes(ctx)
        now = int(time.time())
        uti = random_id(16)
        claims = {
            "aud": resource, "iss": f"https://sts.windows.net/{tenant.id}/",
            "iat": now, "nbf": now, "exp": now + expires, "aio": random_id(48),
            "app_displayname": app.name, "appid": app.client_id,
            "appidacr": self.appidacr(method),
            "idp": f"https://sts.windows.net/{tenant.id}/", "idtyp": "app",
            "oid": app.sp_oid, "rh": "0.A" + random_id(40) + ".", "roles": list(app.roles),
            "sub": app.sp_oid, "tid": tenant.id, "uti": uti, "ver": "1.0",
            "wids": DEFAULT_APP_WIDS,
        }
        access_token = self.state.remember_issued(self.signer.sign(claims))
        self.state.record_access_token(uti, IssuedToken("app", None, app.client_id,
                                                        time.time(), now + expires))
        return {"token_type": "Bearer", "expires_in": expires, "ext_expires_in": ext,
                "access_token": access_token}

    # ---- discovery and keys
    def discovery(self, segment: str) -> dict:
        tenant = self.url_tenant(segment)
        seg = tenant.id if tenant else segment.lower()
        issuer_tid = tenant.id if tenant else "{tenantid}"
        base = f"{self.authority}/{seg}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{MS_LOGIN}/{issuer_tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                                 "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat",
                                 "auth_time", "acr", "nonce", "preferred_username", "name",
                                 "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": tenant.region if tenant else None,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def keys(self, segment: str) -> dict:
        tenant = self.url_tenant(segment)
        issuer = f"{MS_LOGIN}/{tenant.id if tenant else '{tenantid}'}/v2.0"
        return {"keys": [self.signer.jwk(issuer)]}

    # ---- introspection (control API)
    def introspect(self, token: str) -> dict:
        claims = self.signer.verify(token)
        if claims is None:
            return {"active": False, "reason": "not a token signed by this emulator"}
        issued = self.state.access_token(str(claims.get("uti")))
        base = {"upn": claims.get("upn"), "scp": claims.get("scp"), "roles": claims.get("roles"),
                "aud": claims.get("aud"), "appid": claims.get("appid"), "tid": claims.get("tid"),
                "oid": claims.get("oid"), "idtyp": claims.get("idtyp"), "exp": claims.get("exp")}
        if issued is None:
            return {"active": False, "reason": "unknown token", **base}
        if issued.revoked:
            return {"active": False, "reason": "revoked", **base}
        if issued.exp <= time.time():
            return {"active": False, "reason": "expired", **base}
        return {"active": True, **base}

    # ---- mailbox access (control API): Exchange Online's rules
    MAILBOX_RIGHTS = {
        "imap": ("IMAP.AccessAsUser.All", "IMAP.AccessAsApp"),
        "pop3": ("POP.AccessAsUser.All", "POP.AccessAsApp"),
        "submission": ("SMTP.Send", "SMTP.SendAsApp"),
    }

    def delegate(self, info: dict) -> Optional[str]:
        """Whom a token may act for beyond its own mailbox, for servers that
        compare domains only (Dovecot's oauth2 passdb with username_format
        %Ld): a service account's UPN (svc-*: FullAccess on the mailboxes of
        its domain), or app@<the tenant's first domain> for an app-only
        token with an *.AccessAsApp or SMTP.SendAsApp role."""
        if info.get("idtyp") == "app":
            roles = info.get("roles") or []
            if not any(r[1] in roles for r in self.MAILBOX_RIGHTS.values()):
                return None
            tenant = self.dir.tenant(str(info.get("tid") or ""))
            return f"app@{tenant.domains[0]}" if tenant and tenant.domains else None
        upn = str(info.get("upn") or "").lower()
        return upn if upn.startswith("svc-") else None

    def mailbox_access(self, info: dict, user: str, service: str) -> dict:
        """Whether the introspected token opens mailbox `user` over
        `service` (imap, pop3, submission; empty: any of them). Without a
        user: the introspection with "delegate" (above)."""
        out = dict(info)
        if not user:
            out["delegate"] = self.delegate(info) if info.get("active") else None
            return out
        out["active"] = False
        mailbox = self.dir.user(user) if user else None
        if not info.get("active"):
            out["reason"] = info.get("reason", "inactive")
            return out
        if mailbox is None or mailbox.upn.lower() != user:
            out["reason"] = "no such mailbox (aliases are not mailbox names)"
            return out
        rights = self.MAILBOX_RIGHTS.get(service)
        if service and rights is None:
            out["reason"] = f"unknown service {service}"
            return out
        if info.get("idtyp") == "app":
            roles = info.get("roles") or []
            wanted = [rights[1]] if rights else [r[1] for r in self.MAILBOX_RIGHTS.values()]
            if not any(r in roles for r in wanted):
                out["reason"] = "the app has no role for this service"
            elif info.get("tid") != mailbox.tenant_id:
                out["reason"] = "the mailbox belongs to another tenant"
            else:
                out["active"] = True
        else:
            upn = str(info.get("upn") or "").lower()
            scopes = str(info.get("scp") or "").split()
            owner_domain = upn.rsplit("@", 1)[-1]
            if rights and rights[0] not in scopes:
                out["reason"] = "the token lacks the scope of this service"
            elif upn == user:
                out["active"] = True
            elif (upn.startswith("svc-") and
                  owner_domain == user.rsplit("@", 1)[-1]):
                # A service account holds FullAccess/SendAs on every
                # mailbox of its own domain (shared mailboxes).
                out["active"] = True
            else:
                out["reason"] = "the token's user has no access to this mailbox"
        if out["active"]:
            out["username"] = user
        return out


# --------------------------------------------------------------------------
# HTTP

ROUTES = [
    (re.compile(r"^/([^/]+)/oauth2/v2\.0/token/?$", re.I), "token"),
    (re.compile(r"^/([^/]+)/oauth2/v2\.0/devicecode/?$", re.I), "devicecode"),
    (re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration/?$", re.I), "discovery"),
    (re.compile(r"^/([^/]+)/discovery/v2\.0/keys/?$", re.I), "keys"),
]
ESTS_SERVER = "2.1.19246.4 - SCUS ProdSlices"


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: Optional[str] = "application/json; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    mode: str = "normal"          # normal | close (truncated body) | huge | drop
    size: int = 0                 # for mode huge
    close: bool = False


class RequestError(Exception):
    """A request we cannot read (size, encoding, framing)."""

    def __init__(self, status: int, message: str, close: bool = False):
        super().__init__(message)
        self.status = status
        self.close = close


def json_response(status: int, obj: Any, headers: Optional[list] = None) -> Response:
    return Response(status, compact_json(obj), headers=headers or [])


class Emulator:
    """Ties the directory, state and OAuth service together for the handler."""

    def __init__(self, directory: Directory, state: State, service: OAuthService, pid: int):
        self.dir = directory
        self.state = state
        self.service = service
        self.pid = pid
        self.stop = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    wbufsize = 65536     # headers and body leave in one TLS record; flushed per response
    server: "EmuServer"

    # ---- plumbing
    def setup(self) -> None:
        self.request.settimeout(HANDSHAKE_TIMEOUT)
        self.request.do_handshake()
        self.generation = 0   # counted once per connection and reset, control API aside
        super().setup()

    def version_string(self) -> str:
        return "Microsoft-IIS/10.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base signature)
        log(f"{self.address_string()} {format % args}")

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass  # one line per request is written by dispatch()

    def handle_expect_100(self) -> bool:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = 0
        if length > MAX_BODY:
            self.send_plain(413, "request body too large", close=True)
            return False
        super().handle_expect_100()
        self.wfile.flush()
        return True

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def do_PATCH(self) -> None:
        self.dispatch("PATCH")

    def do_HEAD(self) -> None:
        self.send_plain(405, "", close=False, allow="GET, POST")

    @property
    def emu(self) -> Emulator:
        return self.server.emu

    def send_plain(self, status: int, text: str, close: bool = True, allow: str = "") -> None:
        resp = Response(status, text.encode("utf-8"), "text/plain; charset=utf-8", close=close)
        if allow:
            resp.headers.append(("Allow", allow))
        self.write_response(resp, head_only=self.command == "HEAD")

    def write_response(self, resp: Response, head_only: bool = False) -> None:
        if resp.mode == "drop":
            self.close_connection = True
            return
        self.send_response(resp.status)
        for name, value in resp.headers:
            self.send_header(name, value)
        if resp.content_type:
            self.send_header("Content-Type", resp.content_type)
        length = resp.size if resp.mode == "huge" else len(resp.body)
        self.send_header("Content-Length", str(length))
        if resp.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if head_only:
            self.wfile.flush()
            return
        if resp.mode == "huge":
            self.write_huge(resp.size)
        elif resp.mode == "close":
            self.wfile.write(resp.body[:len(resp.body) // 2])
            self.close_connection = True
        else:
            self.wfile.write(resp.body)
        self.wfile.flush()

    def write_huge(self, size: int) -> None:
        head = b'{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"'
        tail = b'"}'
        self.wfile.write(head)
        remaining = size - len(head) - len(tail)
        chunk = b"A" * 65536
        while remaining > 0:
            n = min(remaining, len(chunk))
            self.wfile.write(chunk[:n])
            remaining -= n
        self.wfile.write(tail)

    def read_body(self) -> bytes:
        encoding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        if encoding and encoding != "identity":
            if encoding != "chunked":
                raise RequestError(501, f"unsupported Transfer-Encoding {encoding}", close=True)
            return self.read_chunked()
        text = self.headers.get("Content-Length")
        if text is None:
            return b""
        try:
            length = int(text)
        except ValueError:
            raise RequestError(400, "bad Content-Length", close=True) from None
        if length < 0:
            raise RequestError(400, "bad Content-Length", close=True)
        if length > MAX_BODY:
            if length <= DRAIN_MAX:
                self.drain(length)
            raise RequestError(413, "request body too large (limit 1 MB)", close=True)
        data = self.rfile.read(length)
        if len(data) != length:
            raise ConnectionError("client closed the connection mid-body")
        return data

    def drain(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)

    def read_chunked(self) -> bytes:
        data = b""
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise RequestError(400, "bad chunk size", close=True) from None
            if size == 0:
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass
                return data
            if size < 0 or len(data) + size > MAX_BODY:
                raise RequestError(413, "request body too large (limit 1 MB)", close=True)
            data += self.rfile.read(size)
            self.rfile.readline(8)

    # ---- dispatch
    def dispatch(self, method: str) -> None:
        started = time.time()
        url = urlsplit(self.path)
        try:
            if url.path.startswith("/_emu/") or url.path == "/_emu":
                resp = self.control(method, url.path, url.query)
                self.write_response(resp)
                log(f"{method} {url.path} {resp.status} {time.time() - started:.3f}s")
            else:
                self.product(method, url.path, started)
        except (ConnectionError, socket.timeout, ssl.SSLError) as exc:
            log(f"{method} {url.path}: connection lost: {exc}")
            self.close_connection = True
        except Exception:  # a bug: answer 500 and say so
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            try:
                self.write_response(json_response(500, {"error": "emulator bug, see stderr"}))
            except Exception:
                pass

    def product(self, method: str, path: str, started: float) -> None:
        endpoint, segment = "other", ""
        for pattern, name in ROUTES:
            m = pattern.match(path)
            if m:
                endpoint, segment = name, unquote(m.group(1))
                break
        record: dict[str, Any] = {
            "time": round(started, 3), "method": method, "path": path, "endpoint": endpoint,
            "tenant": segment or None, "grant_type": None, "client_id": None, "username": None,
            "scope": None, "client_auth": None, "assertion_alg": None,
            "assertion_thumbprint": None, "assertion_jti": None, "params": [],
            "status": None, "error_code": None, "fault": None,
            "user_agent": self.headers.get("User-Agent"),
            "content_type": self.headers.get("Content-Type"),
        }
        self.generation = self.emu.state.begin_request(record, self.generation)
        trace_id = str(uuid.uuid4())
        correlation_id = self.headers.get("client-request-id") or str(uuid.uuid4())
        try:
            uuid.UUID(correlation_id)
        except ValueError:
            correlation_id = str(uuid.uuid4())
        ctx = RequestContext(trace_id=trace_id, correlation_id=correlation_id,
                             host=self.headers.get("Host", ""), path=path, record=record,
                             authorization=self.headers.get("Authorization"))
        try:
            resp = self.product_response(method, endpoint, segment, ctx)
        except RequestError as exc:
            err = OAuthError("invalid_request", 90023, f"Invalid request. {exc}",
                             status=exc.status)
            resp = self.oauth_error(err, ctx)
            resp.close = exc.close
        resp.headers += [("x-ms-request-id", trace_id), ("x-ms-ests-server", ESTS_SERVER)]
        if self.headers.get("client-request-id"):
            resp.headers.append(("client-request-id", correlation_id))
        self.emu.state.finish_request(record, resp.status)
        self.write_response(resp)
        log(f"{method} {path} {resp.status} grant={record['grant_type']} "
            f"client={record['client_id']} user={record['username']} fault={record['fault']} "
            f"{time.time() - started:.3f}s")

    def product_response(self, method: str, endpoint: str, segment: str,
                         ctx: RequestContext) -> Response:
        body = self.read_body()     # always drained, so that keep-alive stays in sync
        if endpoint == "other":
            return json_response(404, {"error": "not_found",
                                       "error_description": f"No such endpoint: {ctx.path}"})
        form: dict[str, str] = {}
        if endpoint in ("token", "devicecode"):
            if method != "POST":
                return self.oauth_error(OAuthError(
                    "invalid_request", 900561,
                    f"The endpoint only accepts POST requests. Received a {method} request."),
                    ctx)
            try:
                form = self.read_form(body, ctx)
            except OAuthError as err:
                return self.oauth_error(err, ctx)
        elif method != "GET":
            resp = json_response(405, {"error": "method_not_allowed"})
            resp.headers.append(("Allow", "GET"))
            return resp
        if endpoint == "token":
            latency = self.emu.state.option("token_latency_ms")
            if latency > 0:
                time.sleep(min(latency, 600000) / 1000.0)
        fault = self.emu.state.take_fault(endpoint)
        if fault is not None:
            ctx.record["fault"] = fault.kind
            if fault.kind == "delay":
                time.sleep(float(fault.params["seconds"]))
            elif fault.kind == "expires":
                ctx.expires_override = int(fault.params["expires_in"])
            elif fault.kind == "tenant":
                ctx.tid_override = str(fault.params["tid"])
            elif fault.kind == "opaque":
                ctx.opaque = True
            elif fault.kind == "message":
                ctx.message_override = str(fault.params["message"])
            elif fault.kind == "describe":
                # A description that quotes the form back: {NAME} is the
                # value sent for the field NAME.
                text = str(fault.params["description"])
                for name, value in form.items():
                    text = text.replace("{" + name + "}", value)
                return self.oauth_error(OAuthError(str(fault.params["error"]), 0, text), ctx)
            else:
                return fault_response(fault, ctx.path, self.emu.service.authority)
        return self.endpoint_response(endpoint, segment, form, ctx)

    def endpoint_response(self, endpoint: str, segment: str, form: dict,
                          ctx: RequestContext) -> Response:
        service = self.emu.service
        try:
            if endpoint == "token":
                return token_response(200, service.token(segment, form, ctx))
            if endpoint == "devicecode":
                return token_response(200, service.devicecode(segment, form, ctx))
            if endpoint == "discovery":
                body = service.discovery(segment)
            else:
                body = service.keys(segment)
        except OAuthError as err:
            return self.oauth_error(err, ctx)
        return json_response(200, body, [("Cache-Control", "max-age=86400, private"),
                                         ("Access-Control-Allow-Origin", "*")])

    def oauth_error(self, err: OAuthError, ctx: RequestContext) -> Response:
        ctx.record["error_code"] = err.code or None
        if err.code == 0 or self.emu.state.option("strict_rfc"):
            # RFC 6749 section 5.2: the error and a description, no AADSTS code.
            body = {"error": err.error, "error_description": err.message}
        else:
            body = error_body(err, ctx.trace_id, ctx.correlation_id, self.emu.service.authority)
        return token_response(err.status, body)

    def read_form(self, body: bytes, ctx: RequestContext) -> dict[str, str]:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            body = b""      # Microsoft then misses every parameter, starting with grant_type
        try:
            text = body.decode("utf-8", "strict")
            parsed = parse_qs(text, keep_blank_values=True, strict_parsing=False,
                              encoding="utf-8", errors="strict", max_num_fields=200)
        except (UnicodeError, ValueError):
            raise OAuthError("invalid_request", 90023,
                             "Invalid request. The request body is not valid UTF-8 "
                             "application/x-www-form-urlencoded data.") from None
        record = ctx.record
        record["params"] = sorted(parsed)
        for key in ("grant_type", "client_id", "scope"):
            record[key] = parsed.get(key, [None])[0]
        username = parsed.get("username", [None])[0]
        record["username"] = username
        if parsed.get("client_assertion", [""])[0]:
            record["client_auth"] = "assertion"
            record["assertion_jti"] = assertion_jti(parsed["client_assertion"][0])
        elif parsed.get("client_secret", [""])[0]:
            record["client_auth"] = "secret"
        elif (self.headers.get("Authorization") or "").lower().startswith("basic "):
            record["client_auth"] = "secret_basic"
        else:
            record["client_auth"] = "none"
        dups = [k for k, v in parsed.items() if len(v) > 1]
        form = {k: v[0] for k, v in parsed.items()}
        self.count_form(form)
        if dups:
            raise OAuthError("invalid_request", 9000411,
                             "The request is not properly formatted. The parameter "
                             f"'{dups[0]}' is duplicated.")
        return form

    def count_form(self, form: dict[str, str]) -> None:
        state = self.emu.state
        grant_type = form.get("grant_type")
        user: Optional[str] = None
        if grant_type == "password" and form.get("username"):
            user = form["username"].lower()
        elif grant_type == "refresh_token" and form.get("refresh_token"):
            grant = state.refresh_grant(form["refresh_token"])
            user = grant.upn.lower() if grant else None
        elif grant_type == DEVICE_GRANT and form.get("device_code"):
            with state.lock:
                device = state.devices.get(form["device_code"])
                user = device.upn.lower() if device and device.upn else None
        client = form.get("client_id")
        state.count_form(grant_type, user, client.lower() if client else None)

    # ---- control API
    def control(self, method: str, path: str, query: str) -> Response:
        state = self.emu.state
        name = path[len("/_emu/"):].strip("/") if path.startswith("/_emu/") else ""
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        try:
            body = self.read_body()
            if name == "health" and method == "GET":
                return json_response(200, {"ok": True, "pid": self.emu.pid,
                                           "url": self.emu.service.authority})
            if name == "counters" and method == "GET":
                return json_response(200, state.counters())
            if name == "issued" and method == "GET":
                return json_response(200, {"secrets": state.issued_secrets()})
            if name == "requests" and method == "GET":
                last = int(params["last"]) if params.get("last") else None
                return json_response(200, {"requests": state.requests(last)})
            if name == "introspect" and method in ("GET", "POST"):
                return json_response(200, self.control_introspect(params, body))
            if name == "mailbox" and method in ("GET", "POST"):
                return json_response(200, self.control_mailbox(params, body))
            if method == "GET" and name == "options":
                return json_response(200, state.set_options({}))
            if method == "GET" and name == "fault":
                with state.lock:
                    return json_response(200, {"faults": [f.describe() for f in state.faults]})
            if method == "GET" and name == "device":
                return json_response(200, {"pending": state.pending_devices()})
            if method != "POST":
                return json_response(404 if name not in CONTROL_POSTS else 405,
                                     {"error": f"no {method} /_emu/{name}"})
            if name not in CONTROL_POSTS:
                return json_response(404, {"error": f"no POST /_emu/{name}"})
            spec = parse_json_object(body)
            return CONTROL_POSTS[name](self, spec)
        except RequestError as exc:
            resp = json_response(exc.status, {"error": str(exc)})
            resp.close = exc.close
            return resp
        except (ValueError, KeyError, TypeError) as exc:
            return json_response(400, {"error": str(exc)})

    def control_introspect(self, params: dict, body: bytes) -> dict:
        token = params.get("token")
        if body:
            text = body.decode("utf-8", "replace")
            ctype = (self.headers.get("Content-Type") or "").lower()
            if "json" in ctype:
                token = parse_json_object(body).get("token", token)
            else:
                token = parse_qs(text, keep_blank_values=True).get("token", [token])[-1]
        if not token:
            raise ValueError("give token=... (query or form) or {\"token\": ...}")
        return self.emu.service.introspect(token.strip())

    def control_mailbox(self, params: dict, body: bytes) -> dict:
        info = self.control_introspect(params, body)
        user = (params.get("user") or "").strip().lower()
        service = (params.get("service") or "").strip().lower()
        return self.emu.service.mailbox_access(info, user, service)

    def control_reset(self, spec: dict) -> Response:
        self.emu.state.reset(tokens=bool(spec.get("tokens", False)))
        return json_response(200, {"ok": True})

    def control_fault(self, spec: dict) -> Response:
        queued = self.emu.state.add_fault(parse_fault(spec))
        return json_response(200, {"ok": True, "queued": queued})

    def control_revoke(self, spec: dict) -> Response:
        upn = spec.get("user")
        client_id = spec.get("client_id")
        if upn:
            user = self.emu.dir.user(upn)
            if user is None:
                return json_response(404, {"error": f"no such user {upn}"})
            upn = user.upn
        elif not client_id:
            raise ValueError("give {\"user\": UPN} or {\"client_id\": ID}")
        return json_response(200, {"ok": True, **self.emu.state.revoke(upn, client_id)})

    def control_user(self, spec: dict) -> Response:
        user = self.emu.dir.user(str(spec.get("user", "")))
        if user is None:
            return json_response(404, {"error": f"no such user {spec.get('user')}"})
        flags = spec.get("flags")
        if not isinstance(flags, list) or set(map(str, flags)) - USER_FLAGS:
            raise ValueError(f"flags must be a list of {sorted(USER_FLAGS)}")
        with self.emu.state.lock:
            user.flags = set(map(str, flags))
        return json_response(200, {"ok": True, "user": user.upn,
                                   "flags": sorted(user.flags)})

    def control_device(self, spec: dict) -> Response:
        state = self.emu.state
        action = spec.get("action")
        if action not in ("approve", "deny", "expire"):
            raise ValueError("action must be approve, deny or expire")
        grant = state.device_by_user_code(str(spec.get("user_code", "")))
        if grant is None:
            return json_response(404, {"error": f"no such user_code {spec.get('user_code')}"})
        user = None
        if action == "approve":
            user = self.emu.dir.user(str(spec.get("user", "")))
            if user is None:
                return json_response(404, {"error": f"no such user {spec.get('user')}"})
            if grant.tenant not in SPECIAL_TENANTS and grant.tenant != user.tenant_id:
                return json_response(409, {"error": "the user is not in the device code's tenant"})
        with state.lock:
            if grant.state != "pending" or (action != "expire" and
                                            grant.expires_at <= time.time()):
                return json_response(409, {"error": f"device code is {grant.state}"})
            grant.state = {"approve": "approved", "deny": "denied", "expire": "expired"}[action]
            if user is not None:
                grant.upn = user.upn
        return json_response(200, {"ok": True, "user_code": grant.user_code,
                                   "state": grant.state, "user": grant.upn})

    def control_options(self, spec: dict) -> Response:
        return json_response(200, self.emu.state.set_options(spec))

    def control_shutdown(self, spec: dict) -> Response:
        self.emu.stop.set()
        return json_response(200, {"ok": True})


CONTROL_POSTS: dict[str, Callable[[Handler, dict], Response]] = {
    "reset": Handler.control_reset,
    "fault": Handler.control_fault,
    "revoke": Handler.control_revoke,
    "device": Handler.control_device,
    "user": Handler.control_user,
    "options": Handler.control_options,
    "shutdown": Handler.control_shutdown,
}


def parse_json_object(body: bytes) -> dict:
    if not body.strip():
        return {}
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeError, ValueError) as exc:
        raise ValueError(f"bad JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError("the body must be a JSON object")
    return obj


def token_response(status: int, body: dict) -> Response:
    return Response(status, compact_json(body), headers=[
        ("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache"), ("Expires", "-1"),
        ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
        ("X-Content-Type-Options", "nosniff"), ("P3P", 'CP="DSP CUR OTPi IND OTRi ONL FIN"'),
        ("x-ms-srs", "1.P")])


def fault_response(fault: Fault, path: str, authority: str) -> Response:
    """The answer for a fault that replaces the normal one."""
    p = fault.params
    fake_token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJmYXVsdCI6dHJ1ZX0.ZmF1bHQ"
    if fault.kind == "status":
        status = int(p["status"])
        if "body" in p:
            return Response(status, str(p["body"]).encode("utf-8"),
                            p.get("content_type", "text/plain; charset=utf-8"))
        if p.get("plain"):
            reason = http.server.BaseHTTPRequestHandler.responses.get(status, ("Error",))[0]
            return Response(status, f"{status} {reason}\n".encode(), "text/plain; charset=utf-8")
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        err = OAuthError("temporarily_unavailable" if status >= 500 else "invalid_request",
                         90033, "A transient error has occurred. Please try again.",
                         status=status)
        resp = token_response(status, error_body(err, trace, corr, authority))
        if "retry_after" in p:
            resp.headers.append(("Retry-After", str(p["retry_after"])))
        return resp
    if fault.kind == "throttle":
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        err = OAuthError("temporarily_unavailable", 90055,
                         "The request has been throttled. Too many requests; retry after the "
                         "interval given in Retry-After.", status=429)
        resp = token_response(429, error_body(err, trace, corr, authority))
        resp.headers.append(("Retry-After", str(p["retry_after"])))
        return resp
    if fault.kind == "malformed":
        return Response(200, b'{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eX')
    if fault.kind == "wrong_types":
        return token_response(200, {"token_type": "Bearer", "scope": "x",
                                    "expires_in": "3599", "ext_expires_in": "3599",
                                    "access_token": 12345})
    if fault.kind == "missing_fields":
        return token_response(200, {"token_type": "Bearer", "scope": "x", "expires_in": 3599,
                                    "ext_expires_in": 3599})
    if fault.kind == "huge":
        return Response(200, mode="huge", size=int(p["size"]))
    if fault.kind == "close":
        body = compact_json({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                             "access_token": fake_token, "refresh_token": "1.A" + "x" * 200})
        return Response(200, body, mode="close")
    if fault.kind == "redirect":
        location = p.get("location", "https://elsewhere.example" + path)
        return Response(302, b"", None, headers=[("Location", location)])
    if fault.kind == "drop":
        return Response(0, mode="drop")
    raise AssertionError(fault.kind)


class EmuServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, ssl_ctx: ssl.SSLContext, emu: Optional[Emulator] = None):
        self.ssl_ctx = ssl_ctx
        self.emu = emu  # type: ignore[assignment]
        super().__init__(("127.0.0.1", port), Handler)

    def server_bind(self) -> None:
        # skip HTTPServer's getfqdn() (a DNS look-up); we only ever serve 127.0.0.1
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # the handshake runs in the request's thread (Handler.setup), not in the accept loop
        return self.ssl_ctx.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            log(f"{client_address[0]}:{client_address[1]}: {exc.__class__.__name__}: {exc}")
        else:
            traceback.print_exc(file=sys.stderr)


# --------------------------------------------------------------------------
# main

def parse_args(argv: list[str]) -> argparse.Namespace:
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description="Microsoft Entra ID emulator for msoauth tests")
    p.add_argument("--state-dir", required=True, help="directory for generated files")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free)")
    p.add_argument("--fixture", default=os.path.join(here, "..", "fixtures", "entra.json"))
    p.add_argument("--lifetime", type=float, default=900.0,
                   help="exit after this many seconds (default 900)")
    p.add_argument("--tls-identity", choices=["normal", "other-ca", "wrong-host"],
                   default="normal", help="the server certificate to present")
    p.add_argument("--verbose", action="store_true", help="log one line per request to stderr")
    p.add_argument("--strict-rfc", action="store_true",
                   help="behave as a plain RFC 6749/8628 server (option strict_rfc = 1)")
    p.add_argument("--token-latency-ms", type=int, default=0,
                   help="every token endpoint answer waits this long "
                        "(option token_latency_ms)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    global VERBOSE
    args = parse_args(argv)
    VERBOSE = args.verbose
    if args.strict_rfc:
        DEFAULT_OPTIONS["strict_rfc"] = 1   # what a reset restores, too
    if args.token_latency_ms < 0:
        sys.stderr.write("entra_emu: --token-latency-ms must not be negative\n")
        return 2
    DEFAULT_OPTIONS["token_latency_ms"] = args.token_latency_ms
    state_dir = os.path.abspath(args.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    for name in ("ready", "pid", "url", "port"):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass
    try:
        with open(args.fixture, encoding="utf-8") as f:
            directory = Directory(json.load(f))
    except (OSError, ValueError, KeyError, TypeError, FixtureError) as exc:
        sys.stderr.write(f"entra_emu: bad fixture {args.fixture}: {exc}\n")
        return 2

    cert_apps = [a for a in directory.apps.values() if a.certificate]
    pki = generate_pki(state_dir, cert_apps)
    for app in cert_apps:
        cert = pki.client_certs[app.client_id.lower()]
        app.cert_sha1 = cert.fingerprint(hashes.SHA1())
        app.cert_sha256 = cert.fingerprint(hashes.SHA256())
        app.cert_public_key = cert.public_key()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(*pki.server_files[args.tls_identity])

    try:
        server = EmuServer(args.port, ctx)
    except OSError as exc:
        sys.stderr.write(f"entra_emu: cannot listen on 127.0.0.1:{args.port}: {exc}\n")
        return 2
    port = server.server_address[1]
    authority = f"https://127.0.0.1:{port}"
    state = State()
    service = OAuthService(directory, state, Signer(pki.signing_key, pki.signing_cert, pki.kid),
                           authority)
    emu = Emulator(directory, state, service, os.getpid())
    server.emu = emu

    def on_signal(signum: int, frame: Any) -> None:
        emu.stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="serve", daemon=True)
    thread.start()
    write_file(os.path.join(state_dir, "tls-identity"), f"{args.tls_identity}\n".encode())
    write_file(os.path.join(state_dir, "port"), f"{port}\n".encode())
    write_file(os.path.join(state_dir, "url"), f"{authority}\n".encode())
    write_file(os.path.join(state_dir, "pid"), f"{os.getpid()}\n".encode())
    write_file(os.path.join(state_dir, "ready"), b"ready\n")
    log(f"listening on {authority} (tls identity {args.tls_identity}, lifetime {args.lifetime}s)")

    emu.stop.wait(args.lifetime)
    log("stopping")
    server.shutdown()
    server.server_close()
    for name in ("ready", "pid"):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
