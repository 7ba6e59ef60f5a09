#!/usr/bin/python3
"""A legacy mail client for the proxy tests: logs in with a password.

    mailclient.py imap PORT USER PASSWORD [--append]
    mailclient.py pop3 PORT USER PASSWORD
    mailclient.py submission PORT USER PASSWORD TO
    mailclient.py logins PROTO PORT N USER PASSWORD [USER PASSWORD ...]
    mailclient.py logins-xoauth2 PORT N USER TOKEN

imap: LOGIN, LIST, SELECT INBOX (after APPENDing a message with --append);
prints "ok exists=N". pop3: USER/PASS, STAT, RETR of the last message;
prints "ok messages=N subject=...". submission: AUTH PLAIN, one message to
TO; prints "ok sent". logins: N logins (IMAP AUTHENTICATE PLAIN
with the initial response, or POP3 USER/PASS, then logout) cycling over
the users given; prints "ok N SECONDS"; logins-xoauth2: the same with IMAP
AUTHENTICATE XOAUTH2 and a token (a client of Exchange Online itself, for
the benchmark). Plaintext on
loopback (Dovecot counts it as secured). On a refusal: the server's answer
on stdout, exit status 1; anything else 2.
"""

import base64
import imaplib
import poplib
import smtplib
import socket
import sys
import time

MESSAGE = (b"From: alice@contoso.com\r\nTo: alice@contoso.com\r\n"
           b"Subject: through the proxy\r\nMessage-ID: <proxy-test@msoauth>\r\n"
           b"\r\nA message that travelled through msoauth checkpassword.\r\n")


def text(x):
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    if isinstance(x, (list, tuple)):
        return " ".join(text(i) for i in x)
    return str(x)


def imap_login(c, user, password):
    """LOGIN; a password beyond ASCII (which LOGIN cannot carry in
    imaplib) goes as AUTHENTICATE PLAIN in UTF-8."""
    if password.isascii():
        return c.login(user, password)
    plain = ("\0%s\0%s" % (user, password)).encode("utf-8")
    return c.authenticate("PLAIN", lambda _: plain)


def imap(port, user, password, append=False):
    c = imaplib.IMAP4("127.0.0.1", port)
    try:
        imap_login(c, user, password)
    except imaplib.IMAP4.error as e:
        print(text(e.args[0] if e.args else e))
        return 1
    typ, _ = c.list()
    if typ != "OK":
        print("LIST failed")
        return 2
    if append:
        typ, data = c.append("INBOX", None, None, MESSAGE)
        if typ != "OK":
            print("APPEND failed:", text(data))
            return 2
    typ, data = c.select("INBOX")
    if typ != "OK":
        print("SELECT failed:", text(data))
        return 2
    print("ok exists=%s" % text(data[0]))
    c.logout()
    return 0


def pop3(port, user, password):
    c = poplib.POP3("127.0.0.1", port)
    try:
        c.user(user)
        c.pass_(password)
    except poplib.error_proto as e:
        print(text(e.args[0] if e.args else e))
        return 1
    n, _ = c.stat()
    subject = ""
    if n > 0:
        _, lines, _ = c.retr(n)
        for line in lines:
            if line.lower().startswith(b"subject:"):
                subject = text(line[8:]).strip()
    print("ok messages=%d subject=%s" % (n, subject))
    c.quit()
    return 0


def submission(port, user, password, to):
    c = smtplib.SMTP("127.0.0.1", port, timeout=30)
    try:
        c.ehlo("client.test")
        try:
            c.login(user, password)
        except smtplib.SMTPAuthenticationError as e:
            print(e.smtp_code, text(e.smtp_error))
            return 1
        except smtplib.SMTPException as e:
            print(text(e))
            return 1
        c.sendmail(user, [to], MESSAGE)
        print("ok sent")
        c.quit()
    except smtplib.SMTPException as e:
        print("failed:", text(e))
        return 2
    return 0


def one_login(proto, port, user, password):
    if proto == "imap":
        plain = ("\0%s\0%s" % (user, password)).encode("utf-8")
        refused = raw_imap(port, b"PLAIN", plain)
        if refused is not None:
            raise imaplib.IMAP4.error(refused)
    else:
        c = poplib.POP3("127.0.0.1", port)
        c.user(user)
        c.pass_(password)
        c.quit()


def raw_imap(port, mech, blob):
    """One IMAP login as a tight client: AUTHENTICATE with the initial
    response (SASL-IR) on one line, then LOGOUT; no Nagle delay. Returns
    None, or the server's refusal."""
    s = socket.create_connection(("127.0.0.1", port), 30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    try:
        f.readline()
        s.sendall(b"a AUTHENTICATE " + mech + b" " +
                  base64.b64encode(blob) + b"\r\n")
        while True:
            line = f.readline()
            if not line or line.startswith(b"a "):
                break
        if not line.startswith(b"a OK"):
            return text(line).strip() or "connection closed"
        s.sendall(b"b LOGOUT\r\n")
        while True:
            line = f.readline()
            if not line or line.startswith(b"b "):
                return None
    finally:
        f.close()
        s.close()


def logins_xoauth2(port, n, user, token):
    blob = ("user=%s\x01auth=Bearer %s\x01\x01" % (user, token)).encode()
    start = time.monotonic()
    for i in range(n):
        refused = raw_imap(port, b"XOAUTH2", blob)
        if refused is not None:
            print("login %d: %s" % (i, refused))
            return 1
    print("ok %d %.3f" % (n, time.monotonic() - start))
    return 0


def logins(proto, port, n, pairs):
    start = time.monotonic()
    for i in range(n):
        user, password = pairs[i % len(pairs)]
        try:
            one_login(proto, port, user, password)
        except (imaplib.IMAP4.error, poplib.error_proto) as e:
            print("login %d of %s: %s" % (i, user, text(e)))
            return 1
    print("ok %d %.3f" % (n, time.monotonic() - start))
    return 0


def main(argv):
    try:
        cmd = argv[1]
        if cmd == "logins":
            proto, port, n = argv[2], int(argv[3]), int(argv[4])
            rest = argv[5:]
            return logins(proto, port, n, list(zip(rest[0::2], rest[1::2])))
        if cmd == "logins-xoauth2":
            return logins_xoauth2(int(argv[2]), int(argv[3]), argv[4], argv[5])
        port = int(argv[2])
        if cmd == "imap":
            return imap(port, argv[3], argv[4], "--append" in argv[5:])
        if cmd == "pop3":
            return pop3(port, argv[3], argv[4])
        if cmd == "submission":
            return submission(port, argv[3], argv[4], argv[5])
    except (IndexError, ValueError):
        print(__doc__, file=sys.stderr)
        return 2
    except OSError as e:
        print("failed:", e)
        return 2
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
