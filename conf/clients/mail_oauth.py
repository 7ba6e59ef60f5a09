#!/usr/bin/python3
"""mail_oauth.py - Python's imaplib, poplib and smtplib with Exchange Online.

    mail_oauth.py imap            count the messages in INBOX
    mail_oauth.py pop             count the messages (POP3 STAT)
    mail_oauth.py smtp TO < MSG   send MSG (headers and body) to TO

Each signs in with XOAUTH2 and the access token `msoauth token` prints
(sign in once first: msoauth -p mail login alice@contoso.com). When the
server refuses a token that msoauth still thought valid (revoked before its
expiry), the script asks once more with `msoauth token --renew`, which
drops the cached access token and gets a fresh one.

Edit the settings below; CA_FILE = None trusts the system's certificates.
"""

import base64
import imaplib
import poplib
import smtplib
import ssl
import subprocess
import sys

USER = "alice@contoso.com"
MSOAUTH = ["msoauth", "-p", "mail", "token"]
IMAP_HOST = "outlook.office365.com"
IMAP_PORT = 993
POP_HOST = "outlook.office365.com"
POP_PORT = 995
SMTP_HOST = "smtp.office365.com"
SMTP_PORT = 587
CA_FILE = None


def token(renew=False):
    """The access token msoauth prints; its errors go to stderr as they are."""
    cmd = MSOAUTH + (["--renew"] if renew else []) + [USER]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL).stdout
    return out.decode("ascii").strip()


def xoauth2(tok):
    """The XOAUTH2 initial response (before base64)."""
    return "user=%s\x01auth=Bearer %s\x01\x01" % (USER, tok)


def tls():
    return ssl.create_default_context(cafile=CA_FILE)


def with_token(sign_in):
    """sign_in(token); once more with a renewed token when refused."""
    for renew in (False, True):
        try:
            return sign_in(token(renew))
        except (imaplib.IMAP4.error, poplib.error_proto,
                smtplib.SMTPAuthenticationError):
            if renew:
                raise
    return None


def imap():
    def sign_in(tok):
        conn = imaplib.IMAP4_SSL(IMAP_HOST, IMAP_PORT, ssl_context=tls())
        try:
            # A second challenge is the server's error: answer it empty.
            conn.authenticate("XOAUTH2", lambda challenge: b"" if challenge
                              else xoauth2(tok).encode())
        except imaplib.IMAP4.error:
            conn.logout()
            raise
        return conn

    conn = with_token(sign_in)
    typ, data = conn.select("INBOX", readonly=True)
    conn.logout()
    print("INBOX: %s messages" % data[0].decode())
    return 0 if typ == "OK" else 1


def pop():
    def sign_in(tok):
        conn = poplib.POP3_SSL(POP_HOST, POP_PORT, context=tls())
        # RFC 5034: AUTH with the initial response on the same line.
        initial = base64.b64encode(xoauth2(tok).encode()).decode()
        try:
            conn._shortcmd("AUTH XOAUTH2 " + initial)
        except poplib.error_proto:
            conn.quit()
            raise
        return conn

    conn = with_token(sign_in)
    count, size = conn.stat()
    conn.quit()
    print("%d messages, %d bytes" % (count, size))
    return 0


def smtp(to):
    message = sys.stdin.buffer.read()

    def sign_in(tok):
        conn = smtplib.SMTP(SMTP_HOST, SMTP_PORT)
        conn.starttls(context=tls())
        try:
            conn.auth("XOAUTH2", lambda challenge=None: "" if challenge
                      else xoauth2(tok), initial_response_ok=True)
        except smtplib.SMTPAuthenticationError:
            conn.quit()
            raise
        return conn

    conn = with_token(sign_in)
    conn.sendmail(USER, [to], message)
    conn.quit()
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == "imap":
        return imap()
    if len(argv) == 2 and argv[1] == "pop":
        return pop()
    if len(argv) == 3 and argv[1] == "smtp":
        return smtp(argv[2])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
