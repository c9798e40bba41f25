# SPDX-License-Identifier: MIT
"""Fault walks against a real `despatch serve` (the ASan build with
-Dtest_hooks=true; skipped on a build without the hooks).

DESPATCH_FAULT="<mode>@<N>" makes the N-th durable-I/O call of the server
(lib/dio.c and the SQLite VFS shim, counted from the end of start-up) fail
with EIO or ENOSPC, write short, or lose power (every write not yet
fsynced undone, then _exit); see src/lib/fault.h. Each walk first counts
the calls K of one request (mode `count`), then walks N = 1..K and checks
the rule of issue 5 after a restart: a success reply (250, OK) => the data
is there, byte-identical; a temporary failure (4xx, NO) => nothing is
visible; no reply (power loss) => all or nothing.

Cost: the non-fatal modes (eio, enospc, short) keep one server per walk and
move N on with SIGUSR2 between requests (SIGUSR1 leaves set-up work
uncounted); the server is SIGKILLed after the walk and the checks run on a
fresh start, so a refused commit that a crash would bring back is caught.
A power loss ends the server, so those walks start one server per N: they
walk every call of the small SMTP ingest, and every POWERLOSS_STRIDE-th
call of the IMAP and outbound walks (N = 1, 1 + STRIDE, ...). The 200 KB
ingest (a blob file) is walked at every 2nd call with eio and every 5th
with a power loss. The unit walks in src/store/fault_test.c cover every
call of the same store operations. About 100 s in all under a load of 7.
"""
import base64
import imaplib
import random
import re
import signal
import smtplib
import subprocess
import time
import types

import pytest

from conftest import HOST, PASSWORD, record_figure, strip_trace
from msgs import addr
from outbound_util import (outbound, queue_list, submit,  # noqa: F401
                           wait_queue_empty)

FAULT_EXIT = 86  # FAULT_POWERLOSS_EXIT, lib/fault.h
# After a request, the server's background work for it (the deferred
# full-text index: 5 ms idle, then a slice) finishes within this.
SETTLE = 0.1
POWERLOSS_STRIDE = 3
BIG_STRIDE, BIG_POWERLOSS_STRIDE = 2, 5  # the 200 KB ingest (K = 75)
RCPTS = ("alice", "bob")
FIRE_RE = re.compile(r"event=fault mode=(\w+) op=(\w+) n=(\d+)")
COUNT_RE = re.compile(r"event=fault count=(\d+)(?: rearm=(\d+)| disarm=yes"
                      r"| mode=)")


class Faults:
    """Starts and drives servers with DESPATCH_FAULT on a Despatch."""

    def __init__(self, d):
        self.d = d
        self.fault = None
        self.hold = False
        self.seen = 0
        self.fired = []  # (mode, op, n) of every fault that fired
        orig = d.env  # bound: keeps what outbound_util added (the clock)
        outer = self

        def env(this):
            e = orig()
            if outer.fault is not None:
                e["DESPATCH_FAULT"] = outer.fault
                if outer.hold:
                    e["DESPATCH_FAULT_HOLD"] = "1"
            return e
        d.env = types.MethodType(env, d)

    def start(self, fault, hold=False):
        """Starts serve with DESPATCH_FAULT=fault; hold: counting starts
        at the first rearm() (start-up work, such as recovery after the
        last power loss, stays uncounted)."""
        self.fault, self.hold = fault, hold
        try:
            self.d.start()
        finally:
            self.fault, self.hold = None, False  # CLI runs never carry it
        self.seen = 0
        # Signals only once the handlers are in (SIGUSR2's default action
        # ends the process); a power loss may end it before that.
        deadline = time.monotonic() + 20
        while "event=fault_arm" not in self.log():
            if self.d.proc.poll() is not None or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.01)

    def log(self):
        return self.d.stderr_text()

    def _signal(self, sig):
        n0 = self.seen
        self.d.proc.send_signal(sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = COUNT_RE.findall(self.log())
            if len(got) > n0:
                self.seen = len(got)
                return int(got[-1][0])
            time.sleep(0.01)
        pytest.fail(f"no fault count logged after signal {sig}")

    def rearm(self):
        """N moves on by one, counted from 0; returns the previous count."""
        return self._signal(signal.SIGUSR2)

    def disarm(self):
        return self._signal(signal.SIGUSR1)

    def _collect(self):
        self.fired += FIRE_RE.findall(self.log())

    def end(self, kill=False):
        """Ends the running server: SIGKILL (kill), or reaps one that died
        of a power loss (exit FAULT_EXIT), or SIGTERM. Returns its rc."""
        d = self.d
        if d.proc is None:
            return None
        proc = d.proc
        rc = proc.poll()
        if rc is None and not kill:
            try:
                rc = proc.wait(0.5)  # a power loss may be on its way
            except Exception:
                rc = None
        self._collect()
        if rc is None:
            if kill:
                d.kill()
                return -9
            rc = d.stop()
            # A power loss can come during the shutdown too.
            if rc == FAULT_EXIT and d.problems and "exited 86" in \
                    d.problems[-1]:
                d.problems.pop()
            return rc
        d.proc = None
        d._stderr.close()
        d._check_log(f"serve run {d.runs}")
        if rc != FAULT_EXIT:
            d.problems.append(f"serve run {d.runs} exited {rc}:\n"
                              + self.log()[-3000:])
        return rc

    def count_of(self, request):
        """K: the counted calls of request() (plus its settling)."""
        self.start("count@0")
        self.rearm()
        request(0)
        time.sleep(SETTLE)
        k = self.disarm()
        self.end()
        assert k > 0, "no durable-I/O call counted: hooks not armed?"
        return k


def hooks_or_skip(d):
    """Skips unless despatch was built with test hooks: only then does a
    malformed DESPATCH_FAULT stop a command that opens the store."""
    env = d.env()
    env["DESPATCH_FAULT"] = "malformed"
    r = subprocess.run([d.bin, "store", "stats", "--data", str(d.data)],
                       env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if b"bad DESPATCH_FAULT" not in r.stderr:
        pytest.skip("despatch built without -Dtest_hooks=true")


# --- SMTP ------------------------------------------------------------------
def message(tag, size=0):
    """A small text message; with size, a binary attachment of about size
    bytes (base64; not full-text indexed, so that the walk is the ingest
    and not the indexing of a large text)."""
    head = (f"From: <sender@example.org>\r\nTo: <{addr('alice')}>\r\n"
            f"Subject: fw-{tag}\r\nMessage-ID: <{tag}.{time.time_ns()}"
            f"@example.org>\r\n")
    text = f"Fault walk {tag}.\r\n"
    if not size:
        return (head + "\r\n" + text).encode()
    raw = random.Random(tag).randbytes(size)
    b64 = base64.encodebytes(raw).replace(b"\n", b"\r\n").decode()
    return (head + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;"
            " boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
            + text + "--b1\r\nContent-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + b64
            + "--b1--\r\n").encode()


def smtp_send(d, msg):
    """'ok' (250), 'temp' (4xx), 'none' (no reply) or 'perm:<code>'."""
    try:
        c = smtplib.SMTP(HOST, d.port, local_hostname="client.example.org",
                         timeout=20)
    except OSError:
        return "none"
    try:
        c.ehlo()
        refused = c.sendmail("sender@example.org", [addr(u) for u in RCPTS],
                             msg)
        res = "ok" if not refused else f"partial:{refused}"
    except smtplib.SMTPRecipientsRefused as e:
        codes = {v[0] for v in e.recipients.values()}
        res = "temp" if all(400 <= c < 500 for c in codes) else f"perm:{codes}"
    except smtplib.SMTPResponseException as e:
        res = "temp" if 400 <= e.smtp_code < 500 else f"perm:{e.smtp_code}"
    except (smtplib.SMTPServerDisconnected, OSError):
        res = "none"
    try:
        c.quit()
    except (smtplib.SMTPException, OSError):
        pass
    return res


def imap_messages(d, user, mailbox="INBOX"):
    """{subject tag: [(uid, bytes)]} of a mailbox, over IMAP on a running
    server."""
    c = imaplib.IMAP4(HOST, 143 + d.offset, timeout=30)
    try:
        assert c.login(addr(user), PASSWORD)[0] == "OK"
        typ, data = c.select(f'"{mailbox}"', readonly=True)
        assert typ == "OK", data
        out = {}
        if int(data[0]) == 0:
            return out
        typ, data = c.fetch("1:*", "(UID BODY.PEEK[])")
        assert typ == "OK", data
        for item in data:
            if not isinstance(item, tuple):
                continue
            uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
            m = re.search(rb"^Subject: fw-(\S+)\r$", item[1], re.M)
            tag = m.group(1).decode() if m else "?"
            out.setdefault(tag, []).append((uid, item[1]))
        return out
    finally:
        try:
            c.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def check_ingest(f, outcomes):
    """After a restart: 250 => both recipients have it byte-identical;
    4xx => neither; no reply => both or neither."""
    d = f.d
    f.start("count@0")  # hooks stay unarmed: counting only
    try:
        boxes = {u: imap_messages(d, u) for u in RCPTS}
    finally:
        f.end()
    bad = []
    for tag, msg, res in outcomes:
        have = {u: boxes[u].get(tag, []) for u in RCPTS}
        n = {u: len(v) for u, v in have.items()}
        if res == "ok" or (res == "none" and any(n.values())):
            for u in RCPTS:
                if n[u] != 1:
                    bad.append(f"{tag} ({res}): {u} has {n[u]} copies")
                    continue
                _, _, rest = strip_trace(have[u][0][1])
                if rest != msg:
                    bad.append(f"{tag} ({res}): {u}'s copy differs")
        elif res == "temp" or res == "none":
            if any(n.values()):
                bad.append(f"{tag} ({res}): visible {n}")
        else:
            bad.append(f"{tag}: unexpected reply {res}")
    r = d.verify()
    if r.returncode != 0:
        bad.append("store verify: " + (r.stdout + r.stderr).decode()[-2000:])
    assert not bad, "\n".join(bad)


def ingest_walk_nonfatal(f, mode, k, size=0, stride=1):
    outcomes = []
    f.start(f"{mode}@0")
    for n in range(1, k + 1, stride):
        for _ in range(stride if n > 1 else 1):  # N moves by one a signal
            f.rearm()
        tag = f"{mode}-{size}-{n}"
        msg = message(tag, size)
        outcomes.append((tag, msg, smtp_send(f.d, msg)))
        time.sleep(SETTLE)
    f.disarm()
    f.end(kill=True)  # a crash: nothing refused may come back
    check_ingest(f, outcomes)
    return outcomes


def ingest_walk_powerloss(f, k, stride=1, size=0):
    outcomes = []
    for n in range(1, k + 1, stride):
        f.start(f"powerloss@{n}", hold=True)
        time.sleep(SETTLE)
        f.rearm()
        tag = f"powerloss-{size}-{n}"
        msg = message(tag, size)
        outcomes.append((tag, msg, smtp_send(f.d, msg)))
        time.sleep(SETTLE)
        f.end()
    check_ingest(f, outcomes)
    return outcomes


def summary(outcomes):
    s = {}
    for o in outcomes:
        s[o[-1]] = s.get(o[-1], 0) + 1
    return " ".join(f"{k}={v}" for k, v in sorted(s.items()))


def test_fault_walk_smtp_ingest(despatch):
    """SMTP ingest for two local recipients: a small message at every call
    in each mode; a 200 KB one (a blob file) with eio at every
    BIG_STRIDE-th call and power loss at every BIG_POWERLOSS_STRIDE-th."""
    t0 = time.monotonic()
    hooks_or_skip(despatch)
    f = Faults(despatch)

    def probe(n):
        assert smtp_send(despatch, message(f"count-{n}")) == "ok"
    k = f.count_of(probe)
    figs = [f"K={k}"]
    for mode in ("eio", "enospc", "short"):
        figs.append(f"{mode}: " + summary(ingest_walk_nonfatal(f, mode, k)))
    figs.append("powerloss: " + summary(ingest_walk_powerloss(f, k)))
    # A message over the store's in-memory blob limit (128 KiB): its body
    # is staged in tmp/, fsynced, renamed into blobs/ and its folder
    # fsynced before the COMMIT.
    big = 200 * 1000

    def probe_big(n):
        assert smtp_send(despatch, message(f"count-big-{n}", big)) == "ok"
    kb = f.count_of(probe_big)
    figs.append(f"200 KB: K={kb}")
    figs.append(f"200 KB eio/{BIG_STRIDE}: " + summary(
        ingest_walk_nonfatal(f, "eio", kb, big, BIG_STRIDE)))
    figs.append(f"200 KB powerloss/{BIG_POWERLOSS_STRIDE}: " + summary(
        ingest_walk_powerloss(f, kb, BIG_POWERLOSS_STRIDE, big)))
    fired = {m for m, _, _ in f.fired}
    assert fired >= {"eio", "enospc", "powerloss"}, f.fired
    record_figure("fault_walk_smtp", "; ".join(figs)
                  + f"; {len(f.fired)} faults fired; "
                  f"{time.monotonic() - t0:.1f}s")


# --- IMAP APPEND and EXPUNGE -------------------------------------------------
def imap_session(d, mailbox):
    c = imaplib.IMAP4(HOST, 143 + d.offset, timeout=20)
    assert c.login(addr("alice"), PASSWORD)[0] == "OK"
    assert c.select(f'"{mailbox}"')[0] == "OK"
    return c


def imap_close(c):
    try:
        c.logout()
    except (imaplib.IMAP4.error, OSError):
        pass


def imap_do(fn):
    """'ok' (OK), 'temp' (NO), 'none' (no reply) or 'bad:<text>'."""
    try:
        typ, data = fn()
    except imaplib.IMAP4.abort:
        return "none", None
    except (OSError, EOFError):
        return "none", None
    except imaplib.IMAP4.error as e:
        return f"bad:{e}", None
    return ("ok" if typ == "OK" else "temp" if typ == "NO"
            else f"bad:{typ}"), data


def append_uid(data):
    m = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
    return int(m.group(1)) if m else None


def check_imap(f, mailbox, outcomes, expunge):
    """After a restart. APPEND: OK => there, byte-identical; NO => absent.
    EXPUNGE: OK => gone; NO => still there, byte-identical. No reply:
    either, intact."""
    f.start("count@0")
    try:
        box = imap_messages(f.d, "alice", mailbox)
    finally:
        f.end()
    bad = []
    for tag, msg, res in outcomes:
        have = box.get(tag, [])
        there = len(have) == 1 and have[0][1] == msg
        if len(have) > 1 or (have and not there):
            bad.append(f"{tag} ({res}): {len(have)} copies, intact={there}")
        elif res == "ok" and there == expunge:
            bad.append(f"{tag}: OK but {'still there' if there else 'absent'}")
        elif res == "temp" and there != expunge:
            bad.append(f"{tag}: NO but {'absent' if expunge else 'there'}")
        elif res not in ("ok", "temp", "none"):
            bad.append(f"{tag}: unexpected reply {res}")
    r = f.d.verify()
    if r.returncode != 0:
        bad.append("store verify: " + (r.stdout + r.stderr).decode()[-2000:])
    assert not bad, "\n".join(bad)


def imap_append_step(c, tag):
    msg = message(tag)
    res, _ = imap_do(lambda: c.append('"Archive"', r"(\Seen)", None, msg))
    return tag, msg, res


def imap_expunge_prepare(c, tag):
    """A \\Deleted message to expunge; its UID."""
    msg = message(tag)
    res, data = imap_do(lambda: c.append('"Trash"', r"(\Deleted)", None, msg))
    assert res == "ok", (res, data)
    return msg, append_uid(data)


def imap_expunge_step(c, uid):
    res, _ = imap_do(lambda: c.uid("EXPUNGE", str(uid)))
    return res


def imap_walk(f, mode, k, expunge, stride=1):
    outcomes = []
    box = "Trash" if expunge else "Archive"
    fatal = mode == "powerloss"
    c = None
    if not fatal:
        f.start(f"{mode}@0")
        c = imap_session(f.d, box)
    for n in range(1, k + 1, stride):
        tag = f"{'exp' if expunge else 'app'}-{mode}-{n}"
        if fatal:
            f.start(f"powerloss@{n}", hold=True)
            time.sleep(SETTLE)
            c = imap_session(f.d, box)
        else:
            f.disarm()
        if expunge:
            msg, uid = imap_expunge_prepare(c, tag)
            f.rearm()
            outcomes.append((tag, msg, imap_expunge_step(c, uid)))
        else:
            f.rearm()
            outcomes.append(imap_append_step(c, tag))
        time.sleep(SETTLE)
        if fatal:
            imap_close(c)
            f.end()
    if not fatal:
        imap_close(c)
        f.disarm()
        f.end(kill=True)
    check_imap(f, box, outcomes, expunge)
    return outcomes


def test_fault_walk_imap_append_expunge(despatch):
    """IMAP APPEND and UID EXPUNGE: eio at every call; power loss at every
    POWERLOSS_STRIDE-th."""
    t0 = time.monotonic()
    hooks_or_skip(despatch)
    f = Faults(despatch)
    figs = []
    for expunge in (False, True):
        f.start("count@0")
        c = imap_session(despatch, "Trash" if expunge else "Archive")
        f.disarm()
        if expunge:
            _, uid = imap_expunge_prepare(c, "count-exp")
            f.rearm()
            assert imap_expunge_step(c, uid) == "ok"
        else:
            f.rearm()
            assert imap_append_step(c, "count-app")[2] == "ok"
        time.sleep(SETTLE)
        k = f.disarm()
        imap_close(c)
        f.end()
        name = "expunge" if expunge else "append"
        figs.append(f"{name} K={k}")
        figs.append(f"{name} eio: " + summary(imap_walk(f, "eio", k, expunge)))
        figs.append(f"{name} powerloss/{POWERLOSS_STRIDE}: " + summary(
            imap_walk(f, "powerloss", k, expunge, POWERLOSS_STRIDE)))
    record_figure("fault_walk_imap", "; ".join(figs)
                  + f"; {len(f.fired)} faults fired; "
                  f"{time.monotonic() - t0:.1f}s")


# --- outbound delivery ---------------------------------------------------------
OB_IP = "127.0.0.2"
OB_DOMAIN = "faults.test"


class Gate:
    """The remote MX's behaviour: the first attempt of each message waits
    at its final dot until the test opens the gate (bounded), so that the
    test can arm the fault between the delivery and its marking."""

    def __init__(self):
        import threading
        self.lock = threading.Lock()
        self.waiting = threading.Event()
        self.go = threading.Event()
        self.held = set()  # tags held once already

    def __call__(self, phase, arg, mx):
        if phase != "DOT" or not arg:
            return None
        tag = arg[0].split("@")[0][2:]  # r-<tag>@...
        with self.lock:
            first = tag == self.tag and tag not in self.held
            self.held.add(tag)
        if first:
            self.waiting.set()
            self.go.wait(20)
        return None

    tag = None

    def arm(self, tag):
        self.tag = tag
        self.waiting.clear()
        self.go.clear()


def ob_tags(mx):
    """{tag: times received} at the remote."""
    out = {}
    for t in mx.received():
        m = re.search(rb"^Subject: fw-(\S+)\r$", t.data or b"", re.M)
        if m:
            tag = m.group(1).decode()
            out[tag] = out.get(tag, 0) + 1
    return out


def ob_step(f, ob, gate, tag, fatal):
    d = ob.d
    gate.arm(tag)
    msg = message(tag)
    with_sub = submit(d, "alice", [f"r-{tag}@{OB_DOMAIN}"], msg)
    assert with_sub == {}, with_sub
    if not gate.waiting.wait(20):
        pytest.fail(f"{tag}: no delivery attempt reached the remote")
    failed0 = d.stderr_text().count("op=queue_update")
    f.rearm()
    gate.go.set()
    # Done when the row is gone, or the store refused its marking: the
    # queue then keeps it in flight for its cool-down (60 s, smtp/queue.c)
    # and delivers it again after; the restart at the end of the walk
    # comes first.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if d.proc.poll() is not None:  # the power loss
            return
        if d.stderr_text().count("op=queue_update") > failed0:
            return
        if not queue_rows(d):
            return
        time.sleep(0.1)
    if not fatal:
        pytest.fail(f"{tag}: queue not empty 20 s after the delivery")


def queue_rows(d):
    return queue_list(d)[1]


def ob_walk(f, ob, mx, gate, mode, k, stride=1):
    tags = []
    fatal = mode == "powerloss"
    if not fatal:
        f.start(f"{mode}@0")
    for n in range(1, k + 1, stride):
        tag = f"ob-{mode}-{n}"
        if fatal:
            f.start(f"powerloss@{n}", hold=True)
            time.sleep(SETTLE)
        else:
            f.disarm()
        ob_step(f, ob, gate, tag, fatal)
        tags.append(tag)
        time.sleep(SETTLE)
        if fatal:
            f.end()
    if not fatal:
        f.disarm()
        f.end(kill=True)
    # After a restart every row left is retried: each message must reach
    # the remote at least once (never lost); more than once is the price
    # of a crash between the remote's 250 and the marking.
    f.start("count@0")
    try:
        wait_queue_empty(f.d, 60)
    finally:
        f.end()
    got = ob_tags(mx)
    lost = [t for t in tags if got.get(t, 0) == 0]
    assert not lost, f"never delivered: {lost}"
    r = f.d.verify()
    assert r.returncode == 0, (r.stdout + r.stderr).decode()[-2000:]
    return sum(got.get(t, 0) - 1 for t in tags)


def test_fault_walk_outbound_delivery(outbound):
    """The marking of an outbound delivery (store_queue_update after the
    remote's 250): eio at every call, power loss at every
    POWERLOSS_STRIDE-th; delivered at least once, never lost."""
    t0 = time.monotonic()
    d = outbound.d
    hooks_or_skip(d)
    gate = Gate()
    mx = outbound.fake_mx(OB_IP, gate)
    outbound.domain(OB_DOMAIN, [OB_IP])
    outbound.start()  # configures and starts once (no fault); stop it
    d.stop()
    f = Faults(d)
    f.start("count@0")
    f.disarm()
    ob_step(f, outbound, gate, "count", False)
    time.sleep(SETTLE)
    k = f.disarm()
    f.end()
    dups = ob_walk(f, outbound, mx, gate, "eio", k)
    dups_pl = ob_walk(f, outbound, mx, gate, "powerloss", k,
                      POWERLOSS_STRIDE)
    record_figure("fault_walk_outbound",
                  f"K={k}; eio: {dups} duplicates; powerloss/"
                  f"{POWERLOSS_STRIDE}: {dups_pl} duplicates; "
                  f"{len(f.fired)} faults fired; "
                  f"{time.monotonic() - t0:.1f}s")
