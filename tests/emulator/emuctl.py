#!/usr/bin/python3
"""Control client for the Entra ID emulator (entra_emu.py), for shell tests.

    emuctl.py --state-dir DIR COMMAND [ARG] [--field PATH]

COMMAND                     request
  health                    GET  /_emu/health
  counters                  GET  /_emu/counters
  requests [N]              GET  /_emu/requests?last=N
  reset [JSON]              POST /_emu/reset          e.g. '{"tokens": true}'
  fault JSON                POST /_emu/fault          e.g. '{"kind": "status", "status": 503}'
  faults                    GET  /_emu/fault          (the queue)
  revoke JSON|UPN           POST /_emu/revoke         e.g. '{"user": "alice@contoso.com"}'
  device [JSON]             GET (list pending) or POST /_emu/device
  options [JSON]            GET or POST /_emu/options e.g. '{"device_interval": 1}'
  introspect TOKEN|JSON     POST /_emu/introspect
  shutdown                  POST /_emu/shutdown
  get PATH                  GET  PATH                 e.g. /common/discovery/v2.0/keys
  post PATH [JSON]          POST PATH (JSON body)
  wait [SECONDS]            wait until DIR/ready exists and /_emu/health answers

Prints the JSON answer (or, with --field a/b/0, one value of it: strings bare,
anything else as JSON; --default X prints X when that field is absent).
Exits 1 on an HTTP error status, 2 on a usage error, 3 when the emulator
cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional


class Usage(Exception):
    pass


def read(state_dir: str, name: str) -> str:
    with open(os.path.join(state_dir, name), encoding="utf-8") as f:
        return f.read().strip()


def tls_context(state_dir: str) -> ssl.SSLContext:
    """Trust the emulator's CA; follow whatever --tls-identity it was started with."""
    try:
        identity = read(state_dir, "tls-identity")
    except OSError:
        identity = "normal"
    ca = "other-ca.pem" if identity == "other-ca" else "ca.pem"
    ctx = ssl.create_default_context(cafile=os.path.join(state_dir, ca))
    if identity == "wrong-host":
        ctx.check_hostname = False
    return ctx


def call(state_dir: str, method: str, path: str, body: Optional[bytes] = None,
         content_type: str = "application/json", timeout: float = 30.0) -> tuple[int, bytes]:
    url = read(state_dir, "url") + path
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, context=tls_context(state_dir), timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def json_arg(arg: Optional[str], default: Optional[dict] = None) -> bytes:
    if arg is None:
        if default is None:
            raise Usage("this command needs a JSON argument")
        return json.dumps(default).encode()
    try:
        obj = json.loads(arg)
    except ValueError as exc:
        raise Usage(f"bad JSON argument: {exc}") from None
    if not isinstance(obj, dict):
        raise Usage("the JSON argument must be an object")
    return json.dumps(obj).encode()


def request_for(command: str, arg: Optional[str]) -> tuple[str, str, Optional[bytes], str]:
    """(method, path, body, content type) for a command."""
    form = "application/x-www-form-urlencoded"
    simple_get = {"health": "/_emu/health", "counters": "/_emu/counters",
                  "faults": "/_emu/fault"}
    if command in simple_get:
        return "GET", simple_get[command], None, ""
    if command == "requests":
        query = f"?last={int(arg)}" if arg else ""
        return "GET", f"/_emu/requests{query}", None, ""
    if command == "reset":
        return "POST", "/_emu/reset", json_arg(arg, {}), "application/json"
    if command == "fault":
        return "POST", "/_emu/fault", json_arg(arg), "application/json"
    if command == "revoke":
        if arg and not arg.lstrip().startswith("{"):
            arg = json.dumps({"user": arg})
        return "POST", "/_emu/revoke", json_arg(arg), "application/json"
    if command in ("device", "options"):
        if arg is None:
            return "GET", f"/_emu/{command}", None, ""
        return "POST", f"/_emu/{command}", json_arg(arg), "application/json"
    if command == "introspect":
        if not arg:
            raise Usage("introspect needs a token")
        token = json.loads(arg)["token"] if arg.lstrip().startswith("{") else arg
        body = urllib.parse.urlencode({"token": token}).encode()
        return "POST", "/_emu/introspect", body, form
    if command == "shutdown":
        return "POST", "/_emu/shutdown", b"{}", "application/json"
    if command == "get":
        if not arg or not arg.startswith("/"):
            raise Usage("get needs a path starting with /")
        return "GET", arg, None, ""
    raise Usage(f"unknown command {command!r}")


def pick(obj: Any, path: str) -> Any:
    for part in [p for p in path.split("/") if p]:
        if isinstance(obj, list):
            obj = obj[int(part)]
        elif isinstance(obj, dict):
            obj = obj[part]
        else:
            raise KeyError(part)
    return obj


def wait_ready(state_dir: str, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(state_dir, "ready")):
            try:
                status, _ = call(state_dir, "GET", "/_emu/health", timeout=2)
                if status == 200:
                    return 0
            except (OSError, ValueError):
                pass
        time.sleep(0.05)
    print(f"emuctl: emulator in {state_dir} not ready after {seconds}s", file=sys.stderr)
    return 3


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--state-dir", default=os.environ.get("ENTRA_EMU_STATE_DIR"),
                   help="the emulator's state dir (default $ENTRA_EMU_STATE_DIR)")
    p.add_argument("--field", help="print only this value: keys/indices separated by '/'")
    p.add_argument("--default", help="with --field: print this when the field is absent")
    p.add_argument("command")
    p.add_argument("arg", nargs="?")
    p.add_argument("extra", nargs="?", help="JSON body for post PATH JSON")
    args = p.parse_args(argv)
    if not args.state_dir:
        p.error("--state-dir is required (or set ENTRA_EMU_STATE_DIR)")
    try:
        if args.command == "wait":
            return wait_ready(args.state_dir, float(args.arg or 10))
        if args.command == "post":
            if not args.arg or not args.arg.startswith("/"):
                raise Usage("post needs a path starting with /")
            method, path = "POST", args.arg
            body, ctype = json_arg(args.extra, {}), "application/json"
        else:
            method, path, body, ctype = request_for(args.command, args.arg)
        status, answer = call(args.state_dir, method, path, body, ctype)
    except Usage as exc:
        print(f"emuctl: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"emuctl: cannot reach the emulator: {exc}", file=sys.stderr)
        return 3
    text = answer.decode("utf-8", "replace")
    if args.field:
        try:
            value = pick(json.loads(text), args.field)
        except (ValueError, KeyError, IndexError) as exc:
            if args.default is not None and 200 <= status < 300:
                print(args.default)
                return 0
            print(f"emuctl: no field {args.field} in the answer: {exc}", file=sys.stderr)
            print(text, file=sys.stderr)
            return 1
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    print(text)
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
