#!/usr/bin/python3
"""An Exchange Online stand-in for the SASL tests: a private Dovecot.

    standin.py --dir DIR --emu-dir EMU_STATE_DIR [--lifetime 600]

Starts Dovecot (imap, pop3, submission) on 127.0.0.1 with its own
configuration, base_dir and logs under DIR, with the mechanisms XOAUTH2,
OAUTHBEARER and PLAIN. XOAUTH2 and OAUTHBEARER tokens are checked by two
Dovecot oauth2 passdbs. The first asks the emulator's /_emu/introspect: a
user's own token is active and its upn is the login name. Dovecot 2.3 cannot
put the login name into the introspection URL, so Exchange's delegations
are checked by domain: the second asks /_emu/mailbox, which names the
token's delegate (a service account svc-*@DOMAIN holds FullAccess on the
mailboxes of DOMAIN; an app-only token with an *.AccessAsApp role acts for
its tenant, here its first domain), and the delegate's domain must be the
login name's (username_format = %Ld). Lua (not in Debian's auth) and
checkpassword (512 bytes at most) cannot take a token. PLAIN
accepts any user with the password "plain-password" (the broken
configuration test needs a working PLAIN).

Dovecot's submission service refuses an AUTH line over about 1 KB, while
Exchange takes 2-3 KB: the submission port given to clients is a small proxy
that splits "AUTH MECH INITIAL-RESPONSE" into "AUTH MECH" and the response
after the server's "334", and passes everything else through. Like
Exchange, it offers STARTTLS (the emulator's server certificate, for
127.0.0.1, issued by the emulator's ca.pem); a second port,
submission_notls, is the same proxy with STARTTLS taken out of the EHLO
answer, as an attacker on the path would. Each session's TLS and AUTH
lines go to DIR/submission.log ("N tls TLSv1.3", "N AUTH XOAUTH2 tls=yes",
N the session), for tests that must know a token travelled inside TLS.

Exchange's IMAP and POP3 speak TLS from the start (993, 995): ports imaps
and pop3s are TLS relays (the same certificate) in front of Dovecot's
plaintext imap and pop3 ports, for clients configured as for Exchange and
for a proxy in front of this stand-in (msoauth checkpassword).

Dovecot's submission relays what it accepts to a sink here, which keeps
each message as DIR/relayed/*.eml.

When everything listens it writes DIR/ports ("imap=N imaps=N pop3=N
pop3s=N submission=N submission_direct=N submission_notls=N ...") and then DIR/ready. SIGTERM stops Dovecot and exits.
"""

import argparse
import itertools
import os
import pwd
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def users():
    """(internal, login, mail uid, mail gid) for the user we run as."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid
    nobody = pwd.getpwnam("nobody")
    return "dovecot", "dovenull", nobody.pw_uid, nobody.pw_gid


CONFIG = """\
instance_name = msoauth-standin-{pid}
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
debug_log_path = {dir}/dovecot.log
listen = 127.0.0.1
protocols = imap pop3 submission
ssl = no
disable_plaintext_auth = no
auth_mechanisms = xoauth2 oauthbearer plain
auth_debug = yes
auth_verbose = yes
auth_cache_size = 0
auth_failure_delay = 0
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:{dir}/mail/%n
hostname = standin.test
submission_relay_host = 127.0.0.1
submission_relay_port = {relay}
submission_relay_trusted = yes

passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {dir}/oauth2-own.conf
  result_failure = continue
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {dir}/oauth2-delegate.conf
}}
passdb {{
  driver = static
  mechanisms = plain
  args = password=plain-password
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%n
}}

service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    address = 127.0.0.1
    port = {submission}
  }}
}}
# No auth penalty (up to 15 s per login) after the tests' refusals.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0600
  }}
}}
"""

# A user's own token: active, and its upn is the login name.
OAUTH2_OWN = """\
introspection_mode = get
introspection_url = {emu}/_emu/introspect?token=
username_attribute = upn
active_attribute = active
active_value = true
force_introspection = yes
tls_ca_cert_file = {ca}
"""

# A delegate's token (a service account, an app): the emulator names the
# delegate, and its domain must be the mailbox's (%Ld on both sides).
OAUTH2_DELEGATE = """\
introspection_mode = get
introspection_url = {emu}/_emu/mailbox?token=
username_attribute = delegate
username_format = %Ld
active_attribute = active
active_value = true
force_introspection = yes
tls_ca_cert_file = {ca}
"""

def write(path, text):
    with open(path, "w") as f:
        f.write(text)


class Log:
    """DIR/submission.log, one line per event, shared by the sessions."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.ids = itertools.count(1)

    def write(self, session, text):
        with self.lock, open(self.path, "a") as f:
            f.write("%d %s\n" % (session, text))


def read_line(sock, buf):
    while b"\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None, buf
        buf += data
    line, _, rest = buf.partition(b"\n")
    return line + b"\n", rest


def read_reply(server, sbuf):
    """The server's reply, all lines of a multi-line one; None at EOF."""
    lines = []
    while True:
        sline, sbuf = read_line(server, sbuf)
        if sline is None:
            return None, sbuf
        lines.append(sline)
        if len(sline) < 4 or sline[3:4] != b"-":
            return lines, sbuf


def ehlo_answer(lines, starttls):
    """The server's EHLO answer without STARTTLS, then with it if asked."""
    kept = lines[:1] + [l for l in lines[1:]
                        if l[4:12].upper() != b"STARTTLS"]
    if starttls:
        kept.append(b"250 STARTTLS\r\n")
    return [b"250-" + l[4:] for l in kept[:-1]] + [b"250 " + kept[-1][4:]]


def copy_both(client, server):
    """Copies bytes both ways until one side closes. One thread: an
    SSLSocket must not be read and written by two threads at once."""
    socks = [client, server]
    try:
        while True:
            if isinstance(client, ssl.SSLSocket) and client.pending():
                ready = [client]
            else:
                ready, _, _ = select.select(socks, [], [], 120)
                if not ready:
                    return
            for src in ready:
                dst = server if src is client else client
                data = src.recv(65536)
                if not data:
                    return
                dst.sendall(data)
    except (OSError, ssl.SSLError):
        pass


def proxy_session(client, server_port, tls, log):
    """Splits AUTH lines with an initial response, offers STARTTLS when tls
    (an SSLContext) is given, then copies bytes."""
    session = next(log.ids)
    server = socket.create_connection(("127.0.0.1", server_port))
    in_tls = False
    cbuf = b""
    sbuf = b""
    try:
        # Line mode until authentication is over.
        sline, sbuf = read_line(server, sbuf)
        if sline is None:
            return
        client.sendall(sline)
        while True:
            line, cbuf = read_line(client, cbuf)
            if line is None:
                return
            words = line.rstrip(b"\r\n").split(b" ")
            verb = words[0].upper()
            if verb == b"STARTTLS" and tls is not None and not in_tls:
                # Whatever the client pipelined after STARTTLS is dropped
                # (RFC 3207): it must come again inside TLS.
                cbuf = b""
                client.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                client = tls.wrap_socket(client, server_side=True)
                in_tls = True
                log.write(session, "tls " + str(client.version()))
                continue
            if verb == b"AUTH" and len(words) >= 2:
                log.write(session, "AUTH %s tls=%s" % (
                    words[1].decode("ascii", "replace"),
                    "yes" if in_tls else "no"))
            if (len(words) == 3 and verb == b"AUTH" and words[2] != b"="):
                server.sendall(words[0] + b" " + words[1] + b"\r\n")
                sline, sbuf = read_line(server, sbuf)
                if sline is None:
                    return
                if not sline.startswith(b"334"):
                    client.sendall(sline)
                    continue
                server.sendall(words[2] + b"\r\n")
            else:
                server.sendall(line)
            # Pass the server's answer (all lines of a multi-line reply);
            # an EHLO answer gets STARTTLS (or loses it: submission_notls).
            lines, sbuf = read_reply(server, sbuf)
            if lines is None:
                return
            if verb == b"EHLO" and lines[0].startswith(b"250"):
                lines = ehlo_answer(lines, tls is not None and not in_tls)
            client.sendall(b"".join(lines))
            # Authenticated (with the initial response or after a 334):
            # the rest, pipelined commands and the message, passes as is.
            if lines[-1].startswith(b"235"):
                break
        # Authenticated: plain copying both ways.
        if cbuf:
            server.sendall(cbuf)
        if sbuf:
            client.sendall(sbuf)
        copy_both(client, server)
    except (OSError, ssl.SSLError):
        pass
    finally:
        client.close()
        server.close()


def proxy(listener, server_port, tls, log):
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=proxy_session,
                         args=(client, server_port, tls, log),
                         daemon=True).start()


def tls_session(client, server_port, tls):
    """Implicit TLS to the client, plaintext to Dovecot."""
    server = None
    try:
        # No Nagle delay on either side: a relay must not add latency.
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = tls.wrap_socket(client, server_side=True)
        server = socket.create_connection(("127.0.0.1", server_port))
        server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        copy_both(client, server)
    except (OSError, ssl.SSLError):
        pass
    finally:
        client.close()
        if server is not None:
            server.close()


def tls_relay(listener, server_port, tls):
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=tls_session,
                         args=(client, server_port, tls),
                         daemon=True).start()


def tls_context(emu_dir):
    """The emulator's server certificate (127.0.0.1, localhost)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(emu_dir, "server.crt"),
                        os.path.join(emu_dir, "server.key"))
    return ctx


def listen():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def sink_session(conn, outdir):
    """Dovecot's submission relays here: enough SMTP to take a message."""
    f = conn.makefile("rwb")
    try:
        f.write(b"220 sink.test ESMTP\r\n")
        f.flush()
        while True:
            line = f.readline(65536)
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                f.write(b"250-sink.test\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                f.write(b"354 go\r\n")
                f.flush()
                data = b""
                while True:
                    l = f.readline(65536)
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    data += l
                name = os.path.join(outdir, "%d-%d.eml" % (time.time_ns(),
                                                          os.getpid()))
                with open(name + ".tmp", "wb") as out:
                    out.write(data)
                os.rename(name + ".tmp", name)
                f.write(b"250 2.0.0 kept\r\n")
            elif verb == b"QUIT":
                f.write(b"221 bye\r\n")
                f.flush()
                return
            else:
                f.write(b"250 ok\r\n")
            f.flush()
    except OSError:
        pass
    finally:
        conn.close()


def sink(port, outdir):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=sink_session, args=(conn, outdir),
                         daemon=True).start()


def wait_port(port, proc, seconds=15):
    end = time.time() + seconds
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--emu-dir", required=True)
    ap.add_argument("--lifetime", type=float, default=600)
    args = ap.parse_args()
    d = os.path.abspath(args.dir)
    with open(os.path.join(args.emu_dir, "url")) as f:
        emu_url = f.read().strip()
    internal, login, uid, gid = users()
    for sub in ("run", "state", "mail", "home"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    # Dovecot's unprivileged processes walk into DIR; mail is the mail
    # user's. The CA copy is readable by the auth process whoever it runs as.
    os.chmod(d, 0o755)
    os.chmod(os.path.join(d, "mail"), 0o1777)
    os.chmod(os.path.join(d, "home"), 0o1777)
    with open(os.path.join(args.emu_dir, "ca.pem")) as f:
        write(os.path.join(d, "ca.pem"), f.read())
    os.chmod(os.path.join(d, "ca.pem"), 0o644)
    ports = {"imap": free_port(), "pop3": free_port(),
             "submission_direct": free_port(), "relay": free_port()}
    for name, text in (("own", OAUTH2_OWN), ("delegate", OAUTH2_DELEGATE)):
        write(os.path.join(d, "oauth2-%s.conf" % name),
              text.format(emu=emu_url, ca=os.path.join(d, "ca.pem")))
    write(os.path.join(d, "dovecot.conf"),
          CONFIG.format(pid=os.getpid(), dir=d, internal=internal, login=login,
                        uid=uid, gid=gid, imap=ports["imap"],
                        pop3=ports["pop3"],
                        submission=ports["submission_direct"],
                        relay=ports["relay"]))
    # Mail sent through submission lands in DIR/relayed/*.eml.
    os.makedirs(os.path.join(d, "relayed"), exist_ok=True)
    threading.Thread(target=sink, args=(ports["relay"],
                                        os.path.join(d, "relayed")),
                     daemon=True).start()
    proc = subprocess.Popen(["dovecot", "-F", "-c",
                             os.path.join(d, "dovecot.conf")],
                            stdout=open(os.path.join(d, "dovecot.out"), "w"),
                            stderr=subprocess.STDOUT)

    def stop(*_):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        try:
            os.unlink(os.path.join(d, "ready"))
        except OSError:
            pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for name in ("imap", "pop3", "submission_direct"):
        if not wait_port(ports[name], proc):
            sys.stderr.write("standin: dovecot did not listen (see %s)\n" %
                             os.path.join(d, "dovecot.log"))
            stop()
    log = Log(os.path.join(d, "submission.log"))
    for name, tls in (("submission", tls_context(args.emu_dir)),
                      ("submission_notls", None)):
        listener = listen()
        ports[name] = listener.getsockname()[1]
        threading.Thread(target=proxy,
                         args=(listener, ports["submission_direct"], tls, log),
                         daemon=True).start()
    for name, plain in (("imaps", "imap"), ("pop3s", "pop3")):
        listener = listen()
        ports[name] = listener.getsockname()[1]
        threading.Thread(target=tls_relay,
                         args=(listener, ports[plain],
                               tls_context(args.emu_dir)),
                         daemon=True).start()
    write(os.path.join(d, "ports"),
          " ".join("%s=%d" % (k, v) for k, v in sorted(ports.items())) + "\n")
    write(os.path.join(d, "ready"), "%d\n" % os.getpid())
    end = time.time() + args.lifetime
    while time.time() < end and proc.poll() is None:
        time.sleep(0.2)
    stop()


if __name__ == "__main__":
    main()
