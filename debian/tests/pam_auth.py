#!/usr/bin/python3
"""pam_auth.py SERVICE USER: one PAM login through libpam, as sshd or
Dovecot would make it, for the installed-package test (pamtester is not in
the test's dependencies; ctypes needs nothing to be compiled).

Reads the password from stdin (never an argument). Answers every hidden
prompt with it and a visible prompt with USER; prints the module's messages
on stderr. pam_start, pam_authenticate, then, when that succeeded,
pam_acct_mgmt; pam_end. Prints "auth=N account=M" (M is - when account was
not run) and exits with N, the PAM code of pam_authenticate.
"""

import ctypes
import sys

PAM_PROMPT_ECHO_OFF = 1
PAM_PROMPT_ECHO_ON = 2


class Message(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]


class Response(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_void_p), ("resp_retcode", ctypes.c_int)]


CONV = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int,
                        ctypes.POINTER(ctypes.POINTER(Message)),
                        ctypes.POINTER(ctypes.POINTER(Response)),
                        ctypes.c_void_p)


class Conv(ctypes.Structure):
    _fields_ = [("conv", CONV), ("appdata_ptr", ctypes.c_void_p)]


def main():
    service, user = sys.argv[1].encode(), sys.argv[2].encode()
    password = sys.stdin.buffer.readline().rstrip(b"\n")
    libc = ctypes.CDLL(None)
    libc.calloc.restype = ctypes.c_void_p
    libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    libc.strdup.restype = ctypes.c_void_p
    libc.strdup.argtypes = [ctypes.c_char_p]
    pam = ctypes.CDLL("libpam.so.0")
    pam.pam_start.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                              ctypes.POINTER(Conv),
                              ctypes.POINTER(ctypes.c_void_p)]
    pam.pam_authenticate.argtypes = [ctypes.c_void_p, ctypes.c_int]
    pam.pam_acct_mgmt.argtypes = [ctypes.c_void_p, ctypes.c_int]
    pam.pam_end.argtypes = [ctypes.c_void_p, ctypes.c_int]

    # libpam frees the replies: they are allocated with libc's calloc.
    def converse(n, msgs, resp, _data):
        replies = ctypes.cast(libc.calloc(n, ctypes.sizeof(Response)),
                              ctypes.POINTER(Response))
        for i in range(n):
            m = msgs[i].contents
            if m.msg_style == PAM_PROMPT_ECHO_OFF:
                replies[i].resp = libc.strdup(password)
            elif m.msg_style == PAM_PROMPT_ECHO_ON:
                replies[i].resp = libc.strdup(user)
            else:
                print("pam: %s" % (m.msg or b"").decode(errors="replace"),
                      file=sys.stderr)
        resp[0] = replies
        return 0

    conv = Conv(CONV(converse), None)
    handle = ctypes.c_void_p()
    rc = pam.pam_start(service, user, ctypes.byref(conv), ctypes.byref(handle))
    account = "-"
    if rc == 0:
        rc = pam.pam_authenticate(handle, 0)
        if rc == 0:
            account = pam.pam_acct_mgmt(handle, 0)
        pam.pam_end(handle, rc)
    print("auth=%d account=%s" % (rc, account))
    return rc


if __name__ == "__main__":
    sys.exit(main())
