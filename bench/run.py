#!/usr/bin/python3
"""bench/run.py - the benchmarks of issue 8 (item 8: the Dovecot proxy of
issue 15; item 9: a fleet on Redis, issue 16; item 10: a whole IMAP login), run by "make bench".

    run.py --build DIR --work DIR [--logins 1000] [--quick]

--build is a configured and built copy of the sources (make bench makes it
with CFLAGS="-O2 -g"): the modules, bench/bench_* and the emulator are
taken from there. --work is emptied and holds the emulator's state, the
Dovecot stand-in, configurations, caches and callgrind files.

Every figure is measured side by side with its reference in this run, and
one table is printed, then the method of each row. The run reports and
never fails on timing: the exit status is 1 only when a figure could not
be measured. --quick makes the counts small, to try the harness.
"""

import argparse
import os
import platform
import re
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import json

PUBLIC_CLIENT = "11111111-1111-1111-1111-111111111111"
USER_PASSWORD = "Passw0rd!"
SCOPE = ("https://outlook.office.com/IMAP.AccessAsUser.All "
         "https://outlook.office.com/POP.AccessAsUser.All "
         "https://outlook.office.com/SMTP.Send offline_access")
PAM_WRAPPER = "libpam_wrapper.so"
# Token endpoint latencies of the timing rows (ms): loopback, and closer to
# what administrators see from the real identity platform.
LATENCIES = (0, 50)


def user(i):
    return "user%d@contoso.com" % i


def wait_file(path, proc, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if os.path.exists(path):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def stop(proc):
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def timed(cmd, env=None):
    """Runs cmd; returns (seconds, stdout). Raises on a non-zero exit."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    t = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (os.path.basename(cmd[0]),
                                                p.returncode,
                                                p.stderr.strip()[-400:]))
    return t, p.stdout


class Emulator:
    """The Entra ID emulator on loopback, and its control API."""

    def __init__(self, src, state):
        self.state = state
        script = os.path.join(src, "tests/emulator/entra_emu.py")
        self.proc = subprocess.Popen(
            [sys.executable, script, "--state-dir", state,
             "--lifetime", "7200"])
        if not wait_file(os.path.join(state, "ready"), self.proc, 30):
            stop(self.proc)
            raise RuntimeError("the emulator did not start")
        with open(os.path.join(state, "url")) as f:
            self.url = f.read().strip()
        self.ca = os.path.join(state, "ca.pem")
        self.ctx = ssl.create_default_context(cafile=self.ca)
        self.latency = 0

    def call(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     headers={"Content-Type":
                                              "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
            return json.load(r)

    @classmethod
    def attach(cls, state):
        """An emulator someone else started (tests/proxy/lib.sh)."""
        emu = cls.__new__(cls)
        emu.state, emu.proc = state, None
        with open(os.path.join(state, "url")) as f:
            emu.url = f.read().strip()
        emu.ca = os.path.join(state, "ca.pem")
        emu.ctx = ssl.create_default_context(cafile=emu.ca)
        emu.latency = 0
        return emu

    def reset(self):
        self.call("/_emu/reset", {})
        if self.latency:
            self.call("/_emu/options", {"token_latency_ms": self.latency})

    def set_latency(self, ms):
        """Every token answer waits ms (option token_latency_ms), also
        after resets, until set again."""
        self.latency = ms
        self.call("/_emu/options", {"token_latency_ms": ms})

    def token(self, who):
        """An access token for who (ROPC, the bench's scopes)."""
        form = urllib.parse.urlencode({
            "grant_type": "password", "client_id": PUBLIC_CLIENT,
            "username": who, "password": USER_PASSWORD,
            "scope": SCOPE}).encode()
        req = urllib.request.Request(
            self.url + "/contoso.com/oauth2/v2.0/token", data=form)
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
            return json.load(r)["access_token"]

    def counters(self):
        c = self.call("/_emu/counters")
        return c["by_endpoint"].get("token", 0), c.get("connections", 0)

    def stop(self):
        stop(self.proc)


class Standin:
    """The Dovecot stand-in (tests/sasl/standin.py): IMAP with XOAUTH2."""

    def __init__(self, src, emu_state):
        self.dir = os.path.join(emu_state, "standin")
        script = os.path.join(src, "tests/sasl/standin.py")
        self.proc = subprocess.Popen(
            [sys.executable, script, "--dir", self.dir, "--emu-dir",
             emu_state, "--lifetime", "7200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_file(os.path.join(self.dir, "ready"), self.proc, 30):
            stop(self.proc)
            raise RuntimeError("the Dovecot stand-in did not start")
        with open(os.path.join(self.dir, "ports")) as f:
            ports = dict(kv.split("=") for kv in f.read().split())
        self.imap = ports["imap"]

    def stop(self):
        stop(self.proc)


def fd_3(fd):
    """In a child: fd becomes its fd 3, kept across exec."""
    if fd != 3:
        os.dup2(fd, 3)
    os.set_inheritable(3, True)


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if abs(v) >= 1000 or float(v).is_integer():
        return "{:,.0f}".format(v)
    return "{:.{}f}".format(v, digits)


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.work = os.path.abspath(args.work)
        self.rows = []
        self.methods = []
        self.failed = []
        self.emu = None
        self.standin = None
        self.n = 50 if args.quick else args.logins
        self.runs = 3 if args.quick else 11

    # ------------------------------------------------------------ setup

    def prog(self, name):
        return os.path.join(self.build, "bench", name)

    def make_var(self, name):
        with open(os.path.join(self.build, "Makefile")) as f:
            for line in f:
                if line.startswith(name + " = "):
                    return line.split("=", 1)[1].strip()
        raise RuntimeError("%s not in the build's Makefile" % name)

    def setup(self):
        if os.path.exists(self.work):
            shutil.rmtree(self.work)
        os.makedirs(self.work)
        self.emu = Emulator(self.build, os.path.join(self.work, "emu"))
        try:
            self.standin = Standin(self.build, self.emu.state)
        except (RuntimeError, OSError, KeyError) as e:
            print("note: %s; XOAUTH2 logins stop at the client" % e)
        xoauth2 = os.path.join(self.build,
                               "sasl_xoauth2/.libs/libxoauth2.so")
        plain = os.path.join(self.make_var("sasl_system_plugindir"),
                             "libplain.so")
        self.plugins = {}
        for name, libs in (("both", [xoauth2, plain]), ("ours", [xoauth2]),
                           ("plain", [plain])):
            d = os.path.join(self.work, "plugins-" + name)
            os.makedirs(d)
            for lib in libs:
                os.symlink(lib, os.path.join(d, os.path.basename(lib)))
            self.plugins[name] = d
        self.pam_module = os.path.join(self.build,
                                       "pam_msoauth/.libs/pam_msoauth.so")
        self.pam_env = self.write_pam()

    def conf(self, name, extra="", cache=None):
        path = os.path.join(self.work, name + ".conf")
        with open(path, "w") as f:
            f.write("authority = %s\ntenant = contoso.com\nclient_id = %s\n"
                    "ca_file = %s\ncache_dir = %s\nlog_level = error\n%s"
                    % (self.emu.url, PUBLIC_CLIENT, self.emu.ca,
                       os.path.join(self.work, "cache-" + (cache or name)),
                       extra))
        os.chmod(path, 0o600)
        return path

    def clear_cache(self, name):
        shutil.rmtree(os.path.join(self.work, "cache-" + name),
                      ignore_errors=True)

    def write_pam(self):
        svc = os.path.join(self.work, "pam.d")
        os.makedirs(svc)
        conf = self.conf("pam")
        store = self.conf("pam-store", "store_tokens = yes\n", cache="i7r")
        services = {
            "store": "auth required %s config=%s\n" % (self.pam_module,
                                                        store),
            "other": "auth required pam_deny.so\n",
            "msoauth": "auth required %s config=%s\n" % (self.pam_module,
                                                          conf),
            "permit": "auth required pam_permit.so\n",
        }
        for name, text in services.items():
            with open(os.path.join(svc, name), "w") as f:
                f.write(text)
        env = dict(os.environ, LD_PRELOAD=PAM_WRAPPER, PAM_WRAPPER="1",
                   PAM_WRAPPER_SERVICE_DIR=svc)
        return env

    # ------------------------------------------------------------ output

    def row(self, item, what, ours, ref, ratio, target, met, method):
        self.rows.append((item, what, ours, ref, ratio, target, met))
        self.methods.append((item, what, method))

    def fail(self, item, what, err):
        self.failed.append("%s %s: %s" % (item, what, err))
        self.rows.append((item, what, "n/a", "n/a", "n/a", "", "not measured"))
        self.methods.append((item, what, "failed: %s" % err))

    def table(self):
        head = ("#", "measurement", "ours", "reference", "ratio", "target",
                "met?")
        lines = ["| " + " | ".join(head) + " |",
                 "|" + "|".join("---" for _ in head) + "|"]
        for r in self.rows:
            lines.append("| " + " | ".join(str(c) for c in r) + " |")
        out = ["\n".join(lines), "", "Method:"]
        for item, what, method in self.methods:
            out.append("- %s %s: %s" % (item, what, method))
        return "\n".join(out)

    # ------------------------------------------------------------ items

    def login(self, conf, who):
        cmd = [self.prog("bench_sasl"), "login", self.plugins["both"], conf,
               who, USER_PASSWORD]
        if self.standin is not None:
            cmd.append(self.standin.imap)
        return cmd

    def item1(self):
        """Token requests for N sequential separate-process logins."""
        where = ("IMAP login to the Dovecot stand-in" if self.standin
                 else "XOAUTH2 client start")
        for ids in (1, 10):
            name = "i1-%d" % ids
            conf = self.conf(name)
            self.emu.reset()
            t0 = time.perf_counter()
            for i in range(self.n):
                timed(self.login(conf, user(i % ids)))
            secs = time.perf_counter() - t0
            got, _ = self.emu.counters()
            self.row("1", "token requests, %d logins, %d identit%s"
                     % (self.n, ids, "y" if ids == 1 else "ies"),
                     got, self.n, "%.3f" % (got / self.n), str(ids),
                     "yes" if got == ids else "NO",
                     "%d sequential processes (bench_sasl login: libsasl2 "
                     "client, XOAUTH2, auth = password, one cache dir), each "
                     "a full %s that succeeded, cycling over %d identit%s; "
                     "token endpoint requests counted by the emulator. "
                     "Reference: one request per login (no shared cache). "
                     "%.1f ms per login." % (self.n, where, ids,
                                             "y" if ids == 1 else "ies",
                                             secs * 1000 / self.n))

    def cold_login(self, conf):
        return [self.prog("bench_sasl"), "login", self.plugins["both"], conf,
                user(0), USER_PASSWORD]

    def herd_once(self, conf, procs, cold=True):
        if cold:
            self.clear_cache("i2")
        self.emu.reset()
        t0 = time.perf_counter()
        ps = [subprocess.Popen(self.cold_login(conf), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
              for _ in range(procs)]
        slowest = 0.0
        pending = list(ps)
        while pending:
            for p in list(pending):
                if p.poll() is not None:
                    slowest = time.perf_counter() - t0
                    pending.remove(p)
                    if p.returncode != 0:
                        raise RuntimeError("a herd process failed: %s"
                                           % p.stderr.read().strip()[-300:])
            time.sleep(0.001)
        got, _ = self.emu.counters()
        return slowest, got

    def item2(self):
        """Thundering herd on a cold cache."""
        conf = self.conf("i2")
        procs = 10 if self.args.quick else 50
        for ms in LATENCIES:
            self.emu.set_latency(ms)
            at = " at %d ms" % ms if ms else ""
            single = []
            for _ in range(self.runs):
                self.clear_cache("i2")
                single.append(timed(self.cold_login(conf))[0])
            herds, warm = [], []
            # Cold and warm herds alternated: the machine's load moves.
            for _ in range(5):
                herds.append(self.herd_once(conf, procs))
                warm.append(self.herd_once(conf, procs, cold=False)[0])
            slow = statistics.median(h[0] for h in herds)
            reqs = max(h[1] for h in herds)
            ref = statistics.median(warm)
            self.row("2", "herd: token requests, %d cold processes%s"
                     % (procs, at), reqs, "1 (one login)", "", "1",
                     "yes" if reqs == 1 else "NO",
                     "%d bench_sasl login processes (XOAUTH2 client start, "
                     "auth = password, one identity; no IMAP server) "
                     "started at once on an empty cache; the most token "
                     "requests over 5 herds (each herd: %s)."
                     % (procs, ", ".join(str(h[1]) for h in herds)))
            self.row("2", "herd: slowest of %d, cold vs warm cache (ms)%s"
                     % (procs, at), fmt(slow * 1000),
                     fmt(ref * 1000) + " (warm herd)", "%.2fx" % (slow / ref),
                     "<= 1.2x", "yes" if slow <= 1.2 * ref else "NO",
                     "time from the first spawn to the last exit, median of "
                     "5 herds on an empty cache (%s ms) against the same %d "
                     "processes on a warm cache, no request at all (%s ms; "
                     "herds alternated): what the lock and the one request "
                     "add to what %d process start-ups cost on %d CPUs. One "
                     "cold login alone: %s ms (median of %d)."
                     % (", ".join(fmt(h[0] * 1000) for h in herds), procs,
                        ", ".join(fmt(w * 1000) for w in warm), procs,
                        os.cpu_count(), fmt(statistics.median(single) * 1000),
                        self.runs))
        self.emu.set_latency(0)

    def callgrind(self, mech, n):
        out = os.path.join(self.work, "callgrind.%s" % mech)
        conf = self.conf("i3")
        args = [self.plugins["both"], conf, mech, user(0), USER_PASSWORD]
        timed([self.prog("bench_sasl"), "login", self.plugins["both"], conf,
               user(0), USER_PASSWORD])
        _, stdout = timed(["valgrind", "--tool=callgrind",
                           "--toggle-collect=bench_hot_loop",
                           "--callgrind-out-file=" + out,
                           self.prog("bench_sasl"), "hot"] + args + [str(n)])
        step = re.search(r"^step \S+ (\S+) (0x[0-9a-f]+)$", stdout, re.M)
        if step is None:
            raise RuntimeError("no step function for " + mech)
        step_obj = os.path.basename(os.path.realpath(step.group(1)))
        step_off = int(step.group(2), 16)
        _, ann = timed(["callgrind_annotate", "--inclusive=yes",
                        "--threshold=100", out])
        step_ir = loop = start = None
        for line in ann.splitlines():
            m = re.match(r"^\s*([\d,]+) \([^)]*\)\s+\S*?:([^\s']+)\S* "
                         r"\[(.*)\]$", line)
            if m is None:
                continue
            ir, fn = int(m.group(1).replace(",", "")), m.group(2)
            obj = os.path.basename(m.group(3))
            if fn == "bench_hot_loop" and loop is None:
                loop = ir
            elif fn == "sasl_client_start" and start is None:
                start = ir
            elif obj == step_obj and step_ir is None and (
                    fn == "mech_step" or (fn.startswith("0x") and
                                          int(fn, 16) == step_off)):
                step_ir = ir
        if None in (step_ir, loop, start):
            raise RuntimeError("callgrind_annotate: no cost for %s" % mech)
        _, wall = timed([self.prog("bench_sasl"), "hot"] + args + ["20000"])
        ns = float(re.search(r"ns_per_start (\d+)", wall).group(1))
        return step_ir / n, start / n, loop / n, ns

    def item3(self):
        """Hot path, callgrind."""
        n = 200
        ours = self.callgrind("XOAUTH2", n)
        ref = self.callgrind("PLAIN", n)
        # Wall time of the step: its share of the loop's instructions.
        us = ours[3] * ours[0] / ours[2] / 1000
        self.row("3", "XOAUTH2 plugin step, cached token (instructions)",
                 fmt(ours[0]), fmt(ref[0]) + " (PLAIN)",
                 "%.1fx" % (ours[0] / ref[0]), "< 30,000 (and < 50 us)",
                 ("yes" if ours[0] < 30000 and us < 50 else "NO") +
                 " (%.1f us)" % us,
                 "callgrind instruction count (Ir) of the plugin's "
                 "mech_step, inclusive, per call, over %d client starts "
                 "after a warm-up (bench_sasl hot, auth = password, token "
                 "and password check already cached in the process); PLAIN "
                 "is the system's libplain.so, its step found by address "
                 "(sasl_client_plugin_info). Microseconds: the step's share "
                 "of the loop's instructions times the loop's wall time "
                 "(%.1f us per new+start+dispose over 20,000)."
                 % (n, ours[3] / 1000))
        self.row("3", "full sasl_client_start, XOAUTH2 (instructions)",
                 fmt(ours[1]), fmt(ref[1]) + " (PLAIN)",
                 "%.1fx" % (ours[1] / ref[1]), "report",
                 "%.1f us vs %.1f us" % (ours[3] / 1000, ref[3] / 1000),
                 "callgrind Ir of sasl_client_start, inclusive, per call; "
                 "wall times are per sasl_client_new + start + dispose, "
                 "20,000 in a row, outside valgrind.")

    def item4(self):
        """Cold ROPC vs curl."""
        conf = self.conf("i4")
        url = "%s/contoso.com/oauth2/v2.0/token" % self.emu.url
        curl = ["curl", "-sS", "--fail", "-o", "/dev/null", "--cacert",
                self.emu.ca, "--data-urlencode", "grant_type=password",
                "--data-urlencode", "client_id=" + PUBLIC_CLIENT,
                "--data-urlencode", "username=" + user(0),
                "--data-urlencode", "password=" + USER_PASSWORD,
                "--data-urlencode", "scope=" + SCOPE, url]
        for ms in LATENCIES:
            self.emu.set_latency(ms)
            ours, ref = [], []
            for _ in range(self.runs * 2 + 1):
                self.clear_cache("i4")
                ours.append(timed([self.prog("bench_token"), "cold", conf,
                                   user(0), USER_PASSWORD])[0])
                ref.append(timed(curl)[0])
            o, r = statistics.median(ours), statistics.median(ref)
            self.row("4", "cold ROPC acquisition, fresh process (ms)%s"
                     % (" at %d ms" % ms if ms else ""),
                     fmt(o * 1000), fmt(r * 1000) + " (curl)",
                     "%.2fx" % (o / r), "<= 1.05x" if ms else "report",
                     ("yes" if o <= 1.05 * r else "NO") if ms else "",
                     "bench_token cold (the core: config, ROPC over HTTPS, "
                     "PBKDF2 password verifier made on a thread during the "
                     "request, cache write with fsync) on an empty cache dir "
                     "vs curl POSTing the same form to the same endpoint "
                     "with the emulator's CA; emulator answer latency %d "
                     "ms; each a fresh process, alternated, median of %d "
                     "each (min %s vs %s ms)."
                     % (ms, len(ours), fmt(min(ours) * 1000),
                        fmt(min(ref) * 1000)))
        self.emu.set_latency(0)

    def item10(self):
        """A whole IMAP login with a ready token vs curl --oauth2-bearer."""
        if self.standin is None:
            raise RuntimeError("no Dovecot stand-in: no IMAP login")
        conf = self.conf("i10")
        who = user(3)
        timed(self.login(conf, who))  # the token is in the cache now
        token = self.emu.token(who)
        curl = ["curl", "-sS", "--fail", "-o", "/dev/null",
                "imap://127.0.0.1:%s/" % self.standin.imap, "-X", "NOOP",
                "--login-options", "AUTH=XOAUTH2", "-u", who + ":",
                "--oauth2-bearer", token]
        ours, ref = [], []
        for _ in range(self.runs * 2 + 1):
            ours.append(timed(self.login(conf, who))[0])
            ref.append(timed(curl)[0])
        o, r = statistics.median(ours), statistics.median(ref)
        self.row("10", "whole IMAP login, token ready (ms)", fmt(o * 1000),
                 fmt(r * 1000) + " (curl --oauth2-bearer)", "%.2fx" % (o / r),
                 "report", "",
                 "bench_sasl login with the IMAP port: a fresh process loads "
                 "libsasl2 and the plugin, gets the cached token (auth = "
                 "password, the password checked against the entry's "
                 "verifier: one PBKDF2 per process), and does AUTHENTICATE "
                 "XOAUTH2 + LOGOUT with the Dovecot stand-in (which checks "
                 "the token with the emulator) vs curl imap:// "
                 "--login-options AUTH=XOAUTH2 --oauth2-bearer TOKEN -X NOOP "
                 "(the same login, then NOOP); alternated, median of %d "
                 "each (min %s vs %s ms). The difference is the plugin's "
                 "share of a login." % (len(ours), fmt(min(ours) * 1000),
                                         fmt(min(ref) * 1000)))

    def item5(self):
        """PAM loop vs curl processes."""
        for ms in LATENCIES:
            self.emu.set_latency(ms)
            self.pam_loop(self.n if ms == 0 else min(self.n, 100), ms)
        self.emu.set_latency(0)

    def pam_loop(self, n, ms):
        self.emu.reset()
        secs, out = timed([self.prog("bench_pam"), "loop", "msoauth",
                           user(1), USER_PASSWORD, str(n)], self.pam_env)
        reqs, conns = self.emu.counters()
        url = "%s/contoso.com/oauth2/v2.0/token" % self.emu.url
        curl = ["curl", "-sS", "--fail", "-o", "/dev/null", "--cacert",
                self.emu.ca, "--data-urlencode", "grant_type=password",
                "--data-urlencode", "client_id=" + PUBLIC_CLIENT,
                "--data-urlencode", "username=" + user(1),
                "--data-urlencode", "password=" + USER_PASSWORD,
                "--data-urlencode", "scope=" + SCOPE + " openid profile", url]
        self.emu.reset()
        t0 = time.perf_counter()
        for _ in range(n):
            timed(curl)
        ref = time.perf_counter() - t0
        _, ref_conns = self.emu.counters()
        inner = float(re.search(r"seconds ([\d.]+)", out).group(1))
        self.row("5", "%d PAM authentications in one process (s)%s"
                 % (n, " at %d ms" % ms if ms else ""),
                 "%.2f (%.0f req/s)" % (inner, n / inner),
                 "%.2f (%.0f req/s, curl)" % (ref, n / ref),
                 "%.1fx faster" % (ref / inner), ">= 5x" if not ms else
                 "report", ("yes" if ref >= 5 * inner else "NO")
                 if not ms else "",
                 "bench_pam loop under pam_wrapper: pam_start + "
                 "pam_authenticate + pam_end %d times with the built "
                 "pam_msoauth.so (user1, every one PAM_SUCCESS): %d token "
                 "requests over %d TLS connection(s). Reference: %d "
                 "sequential curl processes POSTing the same ROPC form "
                 "(%d connections). Times are the loop's own (inside the "
                 "process) and the driver's wall time for the curl "
                 "processes. Emulator answer latency %d ms%s."
                 % (n, reqs, conns, n, ref_conns, ms,
                    ": each authentication waits for it, one after the "
                    "other, on both sides" if ms else ""))

    def rss(self, cmd, env=None):
        """KiB added to VmRSS and to RssAnon: medians of 5 processes."""
        rss, anon = [], []
        for _ in range(5):
            out = timed(cmd, env)[1]
            m = re.search(r"rss_kib (\d+) (\d+) anon_kib (\d+) (\d+)", out)
            v = [int(x) for x in m.groups()]
            rss.append(v[1] - v[0])
            anon.append(v[3] - v[2])
        return statistics.median(rss), statistics.median(anon)

    def heap(self, cmd, n, env=None):
        """valgrind's heap totals for n and 2n authentications: per one."""
        tot = []
        for k in (n, 2 * n):
            p = subprocess.run(["valgrind", "--tool=memcheck",
                                "--leak-check=no"] + cmd + [str(k)],
                               env=env, capture_output=True, text=True)
            m = re.search(r"total heap usage: ([\d,]+) allocs, [\d,]+ frees, "
                          r"([\d,]+) bytes allocated", p.stderr)
            if p.returncode != 0 or m is None:
                raise RuntimeError("valgrind: %s" % p.stderr.strip()[-300:])
            tot.append([int(x.replace(",", "")) for x in m.groups()])
        return ((tot[1][1] - tot[0][1]) / n, (tot[1][0] - tot[0][0]) / n)

    def item6(self):
        """Footprint."""
        conf = self.conf("i6")
        sasl = self.prog("bench_sasl")
        timed(self.login(conf, user(2)))
        cmd = [sasl, "rss", self.plugins["ours"], conf, "XOAUTH2", user(2),
               USER_PASSWORD]
        ref = self.rss([sasl, "rss", self.plugins["plain"], conf, "PLAIN",
                        user(2), USER_PASSWORD])
        # A client that cannot chroot: root without CAP_SYS_CHROOT (it may
        # still use root's cache), or this user when not root.
        unpriv = (["setpriv", "--bounding-set=-sys_chroot",
                   "--inh-caps=-sys_chroot"] if os.geteuid() == 0 else [])
        ours = self.rss(unpriv + cmd)
        self.row("6", "RSS added, SASL plugin, client that cannot chroot "
                 "(KiB; anon KiB)",
                 "%s; %s" % (fmt(ours[0]), fmt(ours[1])),
                 "%s; %s (PLAIN)" % (fmt(ref[0]), fmt(ref[1])), "",
                 "< 1024 KiB anon", "yes" if ours[1] < 1024 else "NO",
                 "VmRSS (and its RssAnon part: memory private to the "
                 "process; the rest are pages of shared libraries) before "
                 "sasl_client_init and after init + sasl_client_new + "
                 "sasl_client_start (cached token), with only libxoauth2.so "
                 "(or only libplain.so) in the plugin path; median of 5 "
                 "processes. Run as root without CAP_SYS_CHROOT (setpriv "
                 "--bounding-set=-sys_chroot): like mutt, mbsync or "
                 "ldapsearch, the process cannot chroot, so libcurl is "
                 "mapped only by a request, and a cached token needs none.")
        if os.geteuid() == 0:
            ours = self.rss(cmd)
            self.row("6", "RSS added, SASL plugin, process that may chroot "
                     "(KiB; anon KiB)",
                     "%s; %s" % (fmt(ours[0]), fmt(ours[1])), "", "",
                     "< 1024 KiB anon", "yes" if ours[1] < 1024 else "NO",
                     "the same as root with CAP_SYS_CHROOT, as Postfix's "
                     "smtp initialises the plugin: libcurl is mapped (not "
                     "started) at initialisation, since the first request "
                     "may come inside a chroot where it cannot be opened.")
        pre = dict(os.environ, LD_PRELOAD="libcurl.so.4")
        ours = self.rss(cmd, pre)
        self.row("6", "RSS added, SASL plugin, libcurl preloaded (KiB; anon "
                 "KiB)", "%s; %s" % (fmt(ours[0]), fmt(ours[1])), "", "",
                 "< 1024 KiB anon", "yes" if ours[1] < 1024 else "NO",
                 "the same (as root) with LD_PRELOAD=libcurl.so.4: libcurl "
                 "and the libraries it pulls in (OpenSSL, nghttp2, libssh2, "
                 "LDAP, ...) are mapped before the first sample, as in a "
                 "process that already uses them; what remains is the "
                 "plugin, json-c, hiredis and the configuration.")
        pam = self.prog("bench_pam")
        ours = self.rss([pam, "rss", "msoauth", user(2), USER_PASSWORD],
                        self.pam_env)
        ref = self.rss([pam, "rss", "permit", user(2), USER_PASSWORD],
                       self.pam_env)
        self.row("6", "RSS added, PAM module (KiB; anon KiB)",
                 "%s; %s" % (fmt(ours[0]), fmt(ours[1])),
                 "%s; %s (pam_permit)" % (fmt(ref[0]), fmt(ref[1])), "",
                 "< 1024 KiB anon", "yes" if ours[1] < 1024 else "NO",
                 "VmRSS and RssAnon before pam_start and after pam_start + "
                 "one pam_authenticate (an ROPC request) + pam_end, under "
                 "pam_wrapper; reference: a service with pam_permit.so; "
                 "median of 5 processes.")
        n = 5 if self.args.quick else 20
        o = self.heap([sasl, "heap", self.plugins["ours"], conf, "XOAUTH2",
                       user(2), USER_PASSWORD], n)
        r = self.heap([sasl, "heap", self.plugins["plain"], conf, "PLAIN",
                       user(2), USER_PASSWORD], n)
        self.row("6", "heap per authentication, SASL (bytes; allocs)",
                 "%s; %s" % (fmt(o[0]), fmt(o[1])),
                 "%s; %s (PLAIN)" % (fmt(r[0]), fmt(r[1])),
                 "%.1fx" % (o[0] / r[0]) if r[0] else "", "report", "",
                 "valgrind memcheck 'total heap usage' of bench_sasl heap "
                 "with %d and %d client starts: (bytes(2N) - bytes(N)) / N, "
                 "cached token." % (n, 2 * n))
        o = self.heap([pam, "loop", "msoauth", user(2), USER_PASSWORD], n,
                      self.pam_env)
        r = self.heap([pam, "loop", "permit", user(2), USER_PASSWORD], n,
                      self.pam_env)
        self.row("6", "heap per authentication, PAM (bytes; allocs)",
                 "%s; %s" % (fmt(o[0]), fmt(o[1])),
                 "%s; %s (pam_permit)" % (fmt(r[0]), fmt(r[1])),
                 "%.1fx" % (o[0] / r[0]) if r[0] else "", "report", "",
                 "the same for bench_pam loop with %d and %d "
                 "authentications under pam_wrapper (each an ROPC request "
                 "over the kept connection)." % (n, 2 * n))

    def scale(self, conf, k):
        """Medians of 3 bench_token scale processes: (first, repeat) ns."""
        first, rep = [], []
        for _ in range(3):
            out = timed([self.prog("bench_token"), "scale", conf, str(k),
                         USER_PASSWORD])[1]
            m = re.search(r"first_ns (\d+) repeat_ns (\d+)", out)
            first.append(int(m.group(1)))
            rep.append(int(m.group(2)))
        return statistics.median(first), statistics.median(rep)

    def item7(self):
        """Scaling of cached lookups."""
        pw = self.conf("i7")
        rf = self.conf("i7r", "auth = refresh\n")
        sizes = (1, 10, 100) if self.args.quick else (1, 10, 100, 1000)
        base = {}
        for k in sizes:
            timed([self.prog("bench_token"), "fill", pw, str(k),
                   USER_PASSWORD])
            # Refresh tokens as PAM stores them, then access tokens.
            timed([self.prog("bench_pam"), "users", "store", str(k),
                   USER_PASSWORD], self.pam_env)
            timed([self.prog("bench_token"), "fill", rf, str(k),
                   USER_PASSWORD])
            self.emu.reset()
            for auth, conf in (("password", pw), ("refresh", rf)):
                f, r = self.scale(conf, k)
                base.setdefault(auth, r)
                self.row("7", "cached lookup, auth = %s, %d identit%s "
                         "(us/auth)" % (auth, k, "y" if k == 1 else "ies"),
                         fmt(r / 1000), fmt(base[auth] / 1000) + " (k = 1)",
                         "%.2fx" % (r / base[auth]), "flat (<= 1.5x)",
                         "yes" if r <= 1.5 * base[auth] else "NO",
                         "first use of each identity in the process: %s "
                         "us/auth" % fmt(f / 1000))
            reqs, _ = self.emu.counters()
            if reqs != 0:
                raise RuntimeError("%d token requests during lookups" % reqs)
        self.methods.append((
            "7", "(all rows)",
            "bench_token scale: msoauth_token_get over user0..user<k-1>, "
            "every one served from the cache (0 token requests, checked); "
            "ns per lookup: median of the passes after the first (at least "
            "2,000 lookups in all), median of 3 processes. auth = password "
            "checks the password against the entry's PBKDF2 verifier "
            "(remembered per process); auth = refresh (entries stored by "
            "pam_msoauth with store_tokens = yes, access tokens then "
            "acquired with them) has no password to check: the lookup "
            "alone."))

    def item8(self):
        """Dovecot proxy (msoauth checkpassword)."""
        d = os.path.join(self.work, "proxy")
        os.makedirs(d)
        env = dict(os.environ, MSOAUTH_SRCDIR=self.build,
                   MSOAUTH_BUILDDIR=self.build, PYTHON3=sys.executable)
        lib = os.path.join(self.build, "tests/proxy/lib.sh")
        client = [sys.executable,
                  os.path.join(self.build, "tests/proxy/mailclient.py")]
        proc = subprocess.Popen(["sh", lib, "--serve", d, "log_level = error"],
                                env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            if not wait_file(os.path.join(d, "proxy-ports"), proc, 90):
                raise RuntimeError("the proxy did not start")
            with open(os.path.join(d, "proxy-ports")) as f:
                proxy = dict(kv.split("=") for kv in f.read().split())
            with open(os.path.join(d, "standin/ports")) as f:
                standin = dict(kv.split("=") for kv in f.read().split())
            emu = Emulator.attach(os.path.join(d, "emu"))
            self.proxy_rows(d, proxy, standin, emu, client)
        finally:
            stop(proc)

    def proxy_rows(self, d, proxy, standin, emu, client):
        n = self.n
        conf = os.path.join(d, "msoauth.conf")
        # One token for user0, through the proxy; then the same client
        # logging in directly with that token (the floor).
        timed(client + ["logins", "imap", proxy["imap"], "1", user(0),
                        USER_PASSWORD])
        token = subprocess.run(
            [os.path.join(self.build, "tools/msoauth"), "-c", conf, "token",
             user(0)], input=USER_PASSWORD + "\n", capture_output=True,
            text=True, check=True, user=self.proxy_user()).stdout
        ours, ref = [], []
        for _ in range(3):
            out = timed(client + ["logins", "imap", proxy["imap"], str(n),
                                  user(0), USER_PASSWORD])[1]
            ours.append(float(out.split()[2]))
            out = timed(client + ["logins-xoauth2", standin["imap"], str(n),
                                  user(0), token.strip()])[1]
            ref.append(float(out.split()[2]))
        o, r = statistics.median(ours), statistics.median(ref)
        # What one login costs msoauth: the checkpassword process alone.
        ckpw = self.checkpassword_ms(d, conf)
        self.row("8", "logins/s through the Dovecot proxy, cached token",
                 "%.0f (%.1f ms)" % (n / o, o * 1000 / n),
                 "%.0f (%.1f ms, XOAUTH2 direct)" % (n / r, r * 1000 / n),
                 "%.2fx" % (o / r), "report", "",
                 "%d sequential IMAP logins (connect, AUTHENTICATE PLAIN "
                 "with the initial response, LOGOUT; tests/proxy/"
                 "mailclient.py, one Python process, TCP_NODELAY) of user0 "
                 "with the password through the proxy Dovecot "
                 "(conf/dovecot/10-exo-proxy.conf as the tests run it: "
                 "passdb checkpassword, proxy with XOAUTH2 over TLS to the "
                 "stand-in, which asks the emulator about each token), "
                 "token cached; reference: the same client logging in to "
                 "the stand-in directly with AUTHENTICATE XOAUTH2 and the "
                 "token (the floor: what Exchange costs anyway); median of "
                 "3 runs each (%s vs %s s). Each proxied login runs one "
                 "msoauth process: %.1f ms median for msoauth checkpassword "
                 "alone (process start, configuration, cache entry, PBKDF2 "
                 "check of the password, exec of /bin/true), 50 runs."
                 % (n, ", ".join("%.2f" % x for x in ours),
                    ", ".join("%.2f" % x for x in ref), ckpw))
        # An empty cache: every user's first login asks for a token.
        cache = os.path.join(d, "cache")
        for name in os.listdir(cache):
            os.unlink(os.path.join(cache, name))
        emu.reset()
        pairs = []
        for i in range(10):
            pairs += [user(i), USER_PASSWORD]
        m = 1000 if not self.args.quick else 100
        timed(client + ["logins", "imap", proxy["imap"], str(m)] + pairs)
        got, _ = emu.counters()
        self.row("8", "token requests, %d proxied logins of 10 users" % m,
                 got, "%d (one per login)" % m, "%.3f" % (got / m), "10",
                 "yes" if got == 10 else "NO",
                 "%d sequential IMAP logins through the proxy cycling over "
                 "user0..user9 on an empty cache, token endpoint requests "
                 "counted by the proxy's emulator." % m)

    @staticmethod
    def proxy_user():
        """Who runs msoauth behind the proxy: Dovecot's auth user when we
        are root (lib.sh gives it the configuration and the cache)."""
        return "dovecot" if os.geteuid() == 0 else None

    def checkpassword_ms(self, d, conf):
        inp = os.path.join(d, "fd3")
        with open(inp, "wb") as f:
            f.write(user(0).encode() + b"\0" + USER_PASSWORD.encode() +
                    b"\0\0")
        cmd = [os.path.join(self.build, "tools/msoauth"), "-c", conf, "-p",
               "exo", "checkpassword", "/bin/true"]
        env = {"PATH": "/usr/bin:/bin", "SERVICE": "imap"}
        times = []
        for _ in range(50):
            fd = os.open(inp, os.O_RDONLY)
            try:
                t0 = time.perf_counter()
                # fd 3 set in the child, as Dovecot does.
                p = subprocess.run(cmd, env=env, close_fds=False,
                                   stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE,
                                   user=self.proxy_user(),
                                   preexec_fn=lambda: fd_3(fd))
                times.append(time.perf_counter() - t0)
            finally:
                os.close(fd)
            if p.returncode != 0:
                raise RuntimeError("checkpassword: exit %d: %s"
                                   % (p.returncode, p.stderr[-300:]))
        return statistics.median(times) * 1000

    def redis(self):
        """A redis-server of the run's own on a Unix socket (no TCP, no
        persistence) with a password; returns (process, extra conf)."""
        d = os.path.join(self.work, "redis")
        os.makedirs(d)
        sock = os.path.join(d, "redis.sock")
        pw = "bench-redis-password"
        with open(os.path.join(d, "redis.conf"), "w") as f:
            f.write("port 0\nunixsocket %s\nunixsocketperm 700\nsave \"\"\n"
                    "appendonly no\ndir %s\nlogfile %s/redis.log\n"
                    "user default on >%s ~* &* +@all\n" % (sock, d, d, pw))
        for name, text in (("pw", pw), ("key", os.urandom(32).hex())):
            path = os.path.join(d, name)
            with open(path, "w") as f:
                f.write(text + "\n")
            os.chmod(path, 0o600)
        proc = subprocess.Popen(["redis-server", os.path.join(d, "redis.conf")])
        end = time.monotonic() + 10
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        time.sleep(0.2)
        extra = ("cache_backend = redis\nredis_url = unix:%s\n"
                 "redis_password_file = %s/pw\nredis_key_file = %s/key\n"
                 % (sock, d, d))
        return proc, extra

    def item9(self):
        """A fleet sharing one cache on Redis."""
        hosts, ids = 4, 10
        n = 100 if self.args.quick else 1000
        proc, extra = self.redis()
        try:
            counts = {}
            for backend, more in (("redis", extra), ("file", "")):
                confs = [self.conf("i9-%s-h%d" % (backend, h), more)
                         for h in range(hosts)]
                self.emu.reset()
                for i in range(n):
                    timed([self.prog("bench_token"), "get",
                           confs[(i // ids) % hosts],
                           user(i % ids), USER_PASSWORD])
                counts[backend], _ = self.emu.counters()
            self.row("9", "token requests, %d logins over %d hosts, %d "
                     "identities" % (n, hosts, ids), counts["redis"],
                     "%d (file cache per host)" % counts["file"],
                     "%.2f" % (counts["redis"] / counts["file"]),
                     "%d (1 per identity)" % ids,
                     "yes" if counts["redis"] == ids else "NO",
                     "bench_token get, one process per login, login i as "
                     "user(i mod %d) on host (i div %d) mod %d, so every "
                     "identity logs in on every host, sequential; token "
                     "requests counted by the emulator; reference: the same "
                     "hosts with cache_backend = file" % (ids, ids, hosts))
            per = {}
            for backend, more in (("redis", extra), ("file", "")):
                conf = self.conf("i9-%s-h0" % backend, more)
                per[backend] = self.scale(conf, 1)[1]
            self.row("9", "cached lookup through Redis (us/auth)",
                     fmt(per["redis"] / 1000),
                     fmt(per["file"] / 1000) + " (file)",
                     "%.2fx" % (per["redis"] / per["file"]), "report", "",
                     "bench_token scale with k = 1 on a host of the fleet "
                     "above (auth = password: the verifier check is "
                     "remembered per process, so this is the lookup: GET, "
                     "AES-256-GCM open, parse), Redis on a Unix socket of "
                     "the same machine; median of 3 processes")
        finally:
            stop(proc)

    def run(self):
        items = [self.item1, self.item2, self.item3, self.item4, self.item5,
                 self.item6, self.item7, self.item8, self.item9,
                 self.item10]
        only = self.args.only.split(",") if self.args.only else None
        for i, fn in enumerate(items, 1):
            if only and str(i) not in only:
                continue
            t0 = time.monotonic()
            try:
                fn()
            except (RuntimeError, OSError, ValueError, AttributeError,
                    KeyError, ZeroDivisionError) as e:
                self.fail(str(i), fn.__doc__ or fn.__name__, e)
            print("item %d: %.0f s" % (i, time.monotonic() - t0),
                  file=sys.stderr)


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return "%s, %d CPUs, %s %s" % (cpu, os.cpu_count(), platform.system(),
                                   platform.release())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--logins", type=int, default=1000)
    ap.add_argument("--only", help="comma-separated item numbers")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    b = Bench(args)
    load0 = os.getloadavg()
    t0 = time.monotonic()
    try:
        b.setup()
        b.run()
    finally:
        if b.standin:
            b.standin.stop()
        if b.emu:
            b.emu.stop()
    load1 = os.getloadavg()
    text = b.table()
    text += ("\n\nMachine: %s. Load average (1 min) %.2f at start, %.2f at "
             "end. Run took %.0f s.\n" % (machine(), load0[0], load1[0],
                                         time.monotonic() - t0))
    print(text)
    with open(os.path.join(b.work, "results.md"), "w") as f:
        f.write(text)
    if b.failed:
        print("not measured:\n  " + "\n  ".join(b.failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
