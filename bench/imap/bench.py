# SPDX-License-Identifier: MIT
"""bench/imap: despatch's IMAP server against a private Dovecot on loopback.

  bench/imap/bench.py /abs/path/to/despatch      (bench/imap/run.sh calls it)

Both servers get the same user (bench@bench.test) and the same mailbox
contents, loaded by pipelined APPEND (LITERAL+) over several connections.
Then, for each server in turn:

 (a) memory per idle logged-in session: 200 sessions each LOGIN, SELECT
     INBOX, IDLE; the PSS (and RSS) of the despatch process before and after,
     divided by 200; for Dovecot the PSS sum over its `imap` processes (one
     per session) divided by 200, and the whole instance's PSS delta / 200.
     From /proc/<pid>/smaps_rollup.
 (b) throughput over 10 concurrent clients (Python asyncio, raw sockets),
     one phase per command (SELECT; FETCH FLAGS of 100 messages; FETCH
     BODY.PEEK[HEADER] of 20; FETCH BODY.PEEK[] of 1; STORE; APPEND of 5 KB;
     SEARCH SUBJECT; STORE \\Deleted + EXPUNGE of 1) and one mixed phase;
     commands per second, and the load generator's own CPU use (if it nears
     100 % of a core, the figure is the generator's limit, not the server's).
 (c) UID SEARCH BODY over a mailbox of BENCH_BIG messages (default 100,000):
     a rare word (in 10 messages) and a common one; the median of 3 runs.

Environment: BENCH_MSGS (INBOX size, default 5000), BENCH_BIG (default
100000; 0 skips (c)), BENCH_SECONDS (per phase, default 5), BENCH_SESSIONS
(default 200), BENCH_ONLY (despatch or dovecot), BENCH_KEEP=1 keeps the work
dir. Prints a table and writes it to bench/out/imap-<time>.txt.
"""
import asyncio
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from dovecot import Dovecot  # noqa: E402

HOST = "127.0.0.1"
USER = "bench"
DOMAIN = "bench.test"
LOGIN = f"{USER}@{DOMAIN}"
BIG_LOGIN = f"big@{DOMAIN}"  # its INBOX is the mailbox of (c)
PASSWORD = "bench-password"
MSGS = int(os.environ.get("BENCH_MSGS", "5000"))
BIG = int(os.environ.get("BENCH_BIG", "100000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "200"))
ONLY = os.environ.get("BENCH_ONLY", "")
CLIENTS = 10


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


# --- message corpus (deterministic: the same bytes for both servers) ------------
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo "
         "lima mike november oscar papa quebec romeo sierra tango uniform "
         "victor whiskey xray yankee zulu budget meeting report invoice "
         "project schedule review draft contract offer travel lunch").split()


def make_message(i, rng, size_hint=None, rare=None):
    n_words = size_hint or rng.choice((60, 120, 250, 600, 1200))
    subj = " ".join(rng.choice(WORDS) for _ in range(4))
    body_words = [rng.choice(WORDS) for _ in range(n_words)]
    if rare:
        body_words.insert(rng.randrange(len(body_words)), rare)
    lines, line = [], []
    for w in body_words:
        line.append(w)
        if len(line) == 12:
            lines.append(" ".join(line))
            line = []
    lines.append(" ".join(line))
    hdr = (f"From: Sender {i % 50} <sender{i % 50}@example.org>\r\n"
           f"To: <{LOGIN}>\r\nSubject: {subj} {i}\r\n"
           f"Message-ID: <bench-{i}@example.org>\r\n"
           f"Date: Thu, 01 Jan 2026 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
           f"{i % 60:02d} +0000\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=us-ascii\r\n\r\n")
    return (hdr + "\r\n".join(lines) + "\r\n").encode()


def corpus(n, seed, rare_every=0, rare="zzyzxquux"):
    rng = random.Random(seed)
    for i in range(n):
        r = rare if rare_every and i % rare_every == rare_every // 2 else None
        yield make_message(i, rng, rare=r)


# --- a minimal blocking IMAP client ---------------------------------------------
class Client:
    def __init__(self, port, timeout=120):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        self.n = 0
        self.f.readline()

    def cmd(self, text):
        self.n += 1
        tag = f"b{self.n}"
        self.sock.sendall(f"{tag} {text}\r\n".encode())
        return self.read(tag)

    def read(self, tag):
        out = []
        t = tag.encode() + b" "
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError(f"EOF waiting for {tag}")
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:
                line += self.f.read(int(m.group(1)))
                line += self.f.readline()
            out.append(line)
            if line.startswith(t):
                if not line[len(t):].startswith(b"OK"):
                    raise RuntimeError(f"{tag}: {line[:200]!r}")
                return out

    def login(self, login=LOGIN):
        self.cmd(f'LOGIN "{login}" "{PASSWORD}"')

    def append_many(self, mailbox, msgs, batch=200):
        """Pipelined APPENDs with non-synchronizing literals."""
        msgs = list(msgs)
        for i in range(0, len(msgs), batch):
            chunk = msgs[i:i + batch]
            tags = []
            out = []
            for m in chunk:
                self.n += 1
                tags.append(f"b{self.n}")
                out.append(f"b{self.n} APPEND {mailbox} {{{len(m)}+}}\r\n"
                           .encode() + m + b"\r\n")
            self.sock.sendall(b"".join(out))
            for t in tags:
                self.read(t)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def smtp_load(port, rcpt, msgs, conns=8, batch=100):
    """Delivers msgs to rcpt over conns SMTP sessions (threads), each
    pipelining MAIL/RCPT/BDAT LAST in batches; returns seconds."""
    import threading
    errs = []

    def work(part):
        try:
            s = socket.create_connection((HOST, port), timeout=300)
            f = s.makefile("rb")

            def reply():
                while True:
                    line = f.readline()
                    if not line:
                        raise RuntimeError("SMTP EOF")
                    if line[3:4] != b"-":
                        if line[:1] not in (b"2", b"3"):
                            raise RuntimeError(f"SMTP {line!r}")
                        return
            reply()
            s.sendall(b"EHLO bench.example.org\r\n")
            reply()
            for i in range(0, len(part), batch):
                chunk = part[i:i + batch]
                s.sendall(b"".join(
                    f"MAIL FROM:<load@example.org>\r\nRCPT TO:<{rcpt}>\r\n"
                    f"BDAT {len(m)} LAST\r\n".encode() + m for m in chunk))
                for _ in range(3 * len(chunk)):
                    reply()
            s.sendall(b"QUIT\r\n")
            s.close()
        except Exception as e:  # reported below
            errs.append(e)

    t0 = time.monotonic()
    ths = [threading.Thread(target=work, args=(msgs[i::conns],))
           for i in range(conns)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    if errs:
        raise errs[0]
    return time.monotonic() - t0


def load(port, mailbox, msgs, conns=8, login=LOGIN):
    """APPENDs msgs (a list) to mailbox over conns parallel connections
    (threads); returns seconds."""
    import threading
    c = Client(port)
    c.login(login)
    if mailbox != "INBOX":
        try:
            c.cmd(f"CREATE {mailbox}")
        except RuntimeError:
            pass
    c.close()
    parts = [msgs[i::conns] for i in range(conns)]
    errs = []

    def work(part):
        try:
            cl = Client(port)
            cl.login(login)
            cl.append_many(mailbox, part)
            cl.close()
        except Exception as e:  # reported below
            errs.append(e)

    t0 = time.monotonic()
    ths = [threading.Thread(target=work, args=(p,)) for p in parts]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    if errs:
        raise errs[0]
    return time.monotonic() - t0


# --- /proc ------------------------------------------------------------------
def rollup(pid):
    d = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if v.strip().endswith("kB"):
                    d[k.strip()] = int(v.split()[0])
    except OSError:
        pass
    return d


def pss(pids):
    return sum(rollup(p).get("Pss", 0) for p in pids)


def rss(pids):
    return sum(rollup(p).get("Rss", 0) for p in pids)


# --- (a) memory ---------------------------------------------------------------
def idle_sessions(port, n, select=True):
    socks = []
    for i in range(n):
        c = Client(port, timeout=60)
        c.login()
        if select:
            c.cmd("SELECT INBOX")
        c.n += 1
        c.sock.sendall(f"b{c.n} IDLE\r\n".encode())
        line = c.f.readline()
        assert line.startswith(b"+"), line
        socks.append(c)
    return socks


def memory(srv):
    """{name: KB} per session."""
    # Warm up: one session through the same steps first.
    for c in idle_sessions(srv.port, 1):
        c.close()
    time.sleep(1)
    base_all = pss(srv.pids_all())
    base_rss = rss(srv.pids_all())
    sessions = idle_sessions(srv.port, SESSIONS)
    time.sleep(2)
    res = {
        "pss_delta": (pss(srv.pids_all()) - base_all) / SESSIONS,
        "rss_delta": (rss(srv.pids_all()) - base_rss) / SESSIONS,
    }
    per = srv.pids_sessions()
    if per is not None:
        res["pss_imap_procs"] = pss(per) / SESSIONS
        res["n_imap_procs"] = len(per)
    for c in sessions:
        c.close()
    time.sleep(1)
    # Dovecot's imap processes take a moment to exit: wait (bounded) so
    # that they are not in the next baseline.
    for _ in range(100):
        if not srv.pids_sessions():
            break
        time.sleep(0.1)
    # The same without SELECT (logged in, IDLE in the authenticated state).
    base_all = pss(srv.pids_all())
    sessions = idle_sessions(srv.port, SESSIONS, select=False)
    time.sleep(2)
    res["pss_delta_nosel"] = (pss(srv.pids_all()) - base_all) / SESSIONS
    per = srv.pids_sessions()
    if per is not None:
        # Dovecot keeps exiting imap processes around for a while, so the
        # whole-instance delta is unreliable here; its imap processes are
        # what the sessions cost.
        res["pss_delta_nosel"] = pss(per) / SESSIONS
    for c in sessions:
        c.close()
    time.sleep(1)
    return res


# --- (b) throughput -----------------------------------------------------------
class AClient:
    def __init__(self, r, w):
        self.r, self.w, self.n = r, w, 0

    @classmethod
    async def connect(cls, port):
        r, w = await asyncio.open_connection(HOST, port, limit=1 << 24)
        c = cls(r, w)
        await r.readline()
        await c.cmd(f'LOGIN "{LOGIN}" "{PASSWORD}"')
        return c

    async def cmd(self, text, literal=None):
        self.n += 1
        tag = f"a{self.n}".encode()
        if literal is None:
            self.w.write(tag + b" " + text.encode() + b"\r\n")
        else:
            self.w.write(tag + b" " + text.encode() + b" {%d+}\r\n"
                         % len(literal) + literal + b"\r\n")
        await self.w.drain()
        t = tag + b" "
        while True:
            line = await self.r.readline()
            if not line:
                raise RuntimeError("EOF")
            while line.endswith(b"}\r\n"):
                m = re.search(rb"\{(\d+)\}\r\n$", line)
                if not m:
                    break
                await self.r.readexactly(int(m.group(1)))
                line = await self.r.readline()
            if line.startswith(t):
                if not line[len(t):].startswith(b"OK"):
                    raise RuntimeError(f"{text[:60]}: {line[:200]!r}")
                return

    def close(self):
        self.w.close()


APPEND_MSG = make_message(10 ** 6, random.Random(5), size_hint=800)


def make_ops(k, uid_max, rng):
    """The command kinds of phase (b): name -> coroutine factory(client)."""

    def rnd(span=1):
        lo = rng.randrange(1, max(2, uid_max - span))
        return lo, lo + span - 1

    async def select(c):
        await c.cmd("SELECT INBOX")

    async def fetch_flags(c):
        lo, hi = rnd(100)
        await c.cmd(f"UID FETCH {lo}:{hi} (FLAGS)")

    async def fetch_headers(c):
        lo, hi = rnd(20)
        await c.cmd(f"UID FETCH {lo}:{hi} (BODY.PEEK[HEADER])")

    async def fetch_body(c):
        lo, _ = rnd()
        await c.cmd(f"UID FETCH {lo} (BODY.PEEK[])")

    async def store(c):
        lo, _ = rnd()
        await c.cmd(f"UID STORE {lo} {rng.choice('+-')}FLAGS.SILENT "
                    "(\\Flagged)")

    async def append(c):
        await c.cmd("APPEND Append", literal=APPEND_MSG)

    async def search(c):
        await c.cmd(f"UID SEARCH SUBJECT {rng.choice(WORDS)} "
                    f"FROM sender{rng.randrange(50)}@")

    async def expunge(c):
        # Alone: each client expunges the lowest message of its own
        # mailbox X<i>. In the mix: a random INBOX message.
        if c.in_x:
            uid = c.next_exp
            c.next_exp += 1
        else:
            uid, _ = rnd()
        await c.cmd(f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)")
        await c.cmd("EXPUNGE")

    return {"SELECT": select, "FETCH flags x100": fetch_flags,
            "FETCH headers x20": fetch_headers, "FETCH body x1": fetch_body,
            "STORE": store, "APPEND 5KB": append,
            "SEARCH SUBJECT+FROM": search, "EXPUNGE (+STORE)": expunge}


MIX = {"SELECT": 1, "FETCH flags x100": 3, "FETCH headers x20": 2,
       "FETCH body x1": 3, "STORE": 3, "APPEND 5KB": 1,
       "SEARCH SUBJECT+FROM": 1, "EXPUNGE (+STORE)": 1}


async def phase(port, kinds, uid_max, seconds, exp_base):
    """Runs CLIENTS clients, each doing commands of the given kinds (chosen
    by weight) until the deadline. Returns ({kind: count}, wall, cpu)."""
    counts = {k: 0 for k in kinds}
    clients = []
    for i in range(CLIENTS):
        c = await AClient.connect(port)
        c.next_exp = exp_base[i]
        clients.append(c)
    for i, c in enumerate(clients):
        c.in_x = list(kinds) == ["EXPUNGE (+STORE)"]
        await c.cmd(f"SELECT X{i}" if c.in_x else "SELECT INBOX")

    async def run(i, c):
        rng = random.Random(i * 7919)
        ops = make_ops(i, uid_max, rng)
        names = list(kinds)
        weights = [kinds[k] for k in names]
        while time.monotonic() < deadline:
            k = rng.choices(names, weights)[0]
            await ops[k](c)
            counts[k] += 1

    cpu0 = time.process_time()
    t0 = time.monotonic()
    deadline = t0 + seconds
    await asyncio.gather(*(run(i, c) for i, c in enumerate(clients)))
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    for i, c in enumerate(clients):
        exp_base[i] = c.next_exp
        c.close()
    return counts, wall, cpu


def throughput(srv, uid_max, settled):
    port = srv.port
    exp_base = [1] * CLIENTS
    out = {}
    for k in MIX:
        counts, wall, cpu = asyncio.run(
            phase(port, {k: 1}, uid_max, SECONDS, exp_base))
        out[k] = (counts[k] / wall, cpu / wall)
        log(f"  {k}: {counts[k] / wall:.0f}/s (client cpu "
            f"{100 * cpu / wall:.0f}%)")
        if k == "APPEND 5KB":
            # The phase stored as many messages as the server took in 5 s
            # (despatch: ~17x Dovecot's); emptying the mailbox again gives
            # both servers the same state for the phases that follow (a
            # search reads every message of the user, in any mailbox).
            c = Client(port)
            c.login()
            c.cmd("DELETE Append")
            c.cmd("CREATE Append")
            c.close()
        # Each phase starts with the search index caught up, so that one
        # phase's background indexing does not slow the next.
        backlog, secs = srv.settle()
        if backlog:
            settled[f"after {k}"] = (backlog, secs)
            log(f"  (index backlog {backlog} drained in {secs:.1f}s)")
    counts, wall, cpu = asyncio.run(
        phase(port, MIX, uid_max, SECONDS * 2, exp_base))
    out["MIX (all)"] = (sum(counts.values()) / wall, cpu / wall)
    log(f"  mix: {sum(counts.values()) / wall:.0f}/s {counts}")
    return out


# --- (c) SEARCH BODY -------------------------------------------------------------
def search_body(port, words):
    res = {}
    c = Client(port, timeout=600)
    c.cmd(f'LOGIN "{BIG_LOGIN}" "{PASSWORD}"')
    c.cmd("SELECT INBOX")
    for w in words:
        times, hits = [], None
        for _ in range(3):
            t0 = time.monotonic()
            out = c.cmd(f"UID SEARCH BODY {w}")
            times.append(time.monotonic() - t0)
            hits = sum(len(l.split()) - 2 for l in out
                       if l.startswith(b"* SEARCH"))
        res[w] = (statistics.median(times), hits)
    c.close()
    return res


# --- the servers ----------------------------------------------------------------
def free_offset():
    rng = random.Random()
    for _ in range(500):
        n = rng.randrange(20000, 60000)
        ok = True
        for p in (25, 587, 465, 143, 993):
            s = socket.socket()
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((HOST, p + n))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return n
    raise RuntimeError("no free port offset")


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), 1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


class DespatchServer:
    name = "despatch"

    def __init__(self, binary, work):
        self.bin = binary
        self.data = os.path.join(work, "despatch")
        off = free_offset()
        self.port = 143 + off
        subprocess.run([binary, "init", "--data", self.data, "--domain",
                        DOMAIN, "--hostname", "despatch.bench.localhost",
                        "--listen", HOST, "--port-offset", str(off)],
                       check=True, stdout=subprocess.DEVNULL)
        for u in (LOGIN, BIG_LOGIN):
            subprocess.run([binary, "user", "add", u, "--data", self.data],
                           input=(PASSWORD + "\n").encode(), check=True,
                           stdout=subprocess.DEVNULL)
        self.smtp_port = 25 + off
        self.log = open(os.path.join(work, "despatch.log"), "wb")
        self.proc = subprocess.Popen([binary, "serve", "--data", self.data],
                                     stdout=self.log, stderr=self.log)
        wait_port(self.port)

    def pids_all(self):
        return [self.proc.pid]

    def fts_pending(self):
        out = subprocess.run([self.bin, "store", "stats", "--data",
                              self.data], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout.decode()
        m = re.search(r"^fts_pending: (\d+)$", out, re.M)
        return int(m.group(1)) if m else 0

    def settle(self, cap=1200):
        """Waits (at most cap seconds) until the full-text index has caught
        up with what was stored (it is filled after the 250, in the
        background). Returns (backlog at the start, seconds waited)."""
        t0 = time.monotonic()
        first = n = self.fts_pending()
        while n > 0 and time.monotonic() - t0 < cap:
            time.sleep(0.5)
            n = self.fts_pending()
        return first, time.monotonic() - t0

    def pids_sessions(self):
        return None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class DovecotServer:
    name = "dovecot"

    def __init__(self, work):
        self.port = 143 + free_offset()
        self.dv = Dovecot(os.path.join(work, "dovecot"), self.port,
                          [USER, "big"],
                          PASSWORD, domain=DOMAIN)
        self.dv.setup()
        self.dv.start()

    def pids_all(self):
        return self.dv.pids()

    def pids_sessions(self):
        return self.dv.pids("imap")

    def settle(self, cap=1200):
        return 0, 0.0  # Dovecot indexes inside the command

    def stop(self):
        self.dv.stop()


def ensure_dovecot():
    if shutil.which("dovecot") is None:
        log("installing dovecot-imapd from Debian (its service is not "
            "started)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-q",
                        "--no-install-recommends", "dovecot-imapd"],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        # Debian's package starts a system instance; this bench uses its own.
        subprocess.run(["systemctl", "stop", "dovecot"],
                       stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def bench(srv, inbox, big):
    r = {}
    log(f"{srv.name}: loading {len(inbox)} messages into INBOX")
    r["load_inbox_s"] = load(srv.port, "INBOX", inbox)
    settled = r["settled"] = {}
    backlog, secs = srv.settle()
    if backlog:
        settled["after INBOX load"] = (backlog, secs)
    c = Client(srv.port)
    c.login()
    for i in range(CLIENTS):
        c.cmd(f"CREATE X{i}")
        c.cmd("SELECT INBOX")
        c.cmd(f"UID COPY 1:{min(len(inbox), 3000)} X{i}")
    c.cmd("CREATE Append")
    c.close()
    log(f"{srv.name}: (a) memory, {SESSIONS} idle sessions")
    r["mem"] = memory(srv)
    log(f"{srv.name}: (b) throughput, {CLIENTS} clients, {SECONDS}s phases")
    r["tp"] = throughput(srv, len(inbox), settled)
    if big:
        log(f"{srv.name}: (c) loading {len(big)} messages into big's INBOX")
        if srv.name == "despatch":  # by SMTP: much faster than its APPEND
            r["load_big_s"] = smtp_load(srv.smtp_port, BIG_LOGIN, big)
        else:  # Dovecot has no SMTP listener here: APPEND
            r["load_big_s"] = load(srv.port, "INBOX", big, conns=32,
                                   login=BIG_LOGIN)
        log(f"{srv.name}: loaded in {r['load_big_s']:.0f}s; SEARCH BODY")
        r["search"] = search_body(srv.port, ["zzyzxquux", "invoice"])
        backlog, secs = srv.settle()
        if backlog:
            settled["after big load"] = (backlog, secs)
            log(f"{srv.name}: index backlog {backlog} drained in "
                f"{secs:.1f}s; SEARCH BODY again")
            r["search_indexed"] = search_body(srv.port,
                                              ["zzyzxquux", "invoice"])
    return r


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: bench.py /abs/path/to/despatch")
    binary = sys.argv[1]
    ensure_dovecot()
    work = tempfile.mkdtemp(prefix="despatch-imapbench.")
    os.chmod(work, 0o755)
    log(f"work dir {work}; building the corpus")
    inbox = list(corpus(MSGS, seed=1))
    big = list(corpus(BIG, seed=2, rare_every=BIG // 10)) if BIG else []
    results = {}
    try:
        for name in ("despatch", "dovecot"):
            if ONLY and ONLY != name:
                continue
            srv = (DespatchServer(binary, work) if name == "despatch"
                   else DovecotServer(work))
            try:
                results[name] = bench(srv, inbox, big)
            finally:
                srv.stop()
    finally:
        if os.environ.get("BENCH_KEEP") == "1":
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(results, binary)


def ratio(a, b, invert=False):
    if not a or not b:
        return "-"
    return f"{(b / a if invert else a / b):.2f}"


def report(res, binary):
    d, v = res.get("despatch", {}), res.get("dovecot", {})
    lines = []
    p = lines.append
    p(f"imap bench on {socket.gethostname()} "
      f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, "
      f"{os.cpu_count()} cores; despatch {binary}; "
      f"Dovecot {subprocess.run(['dovecot', '--version'], stdout=subprocess.PIPE).stdout.decode().strip()}")
    p(f"INBOX {MSGS} messages; {CLIENTS} clients; {SECONDS:g}s per phase")
    p("")
    dm, vm = d.get("mem", {}), v.get("mem", {})
    p(f"(a) memory per idle session ({SESSIONS} sessions: LOGIN, SELECT "
      "INBOX, IDLE), KB")
    p(f"  {'':34} {'despatch':>10} {'dovecot':>10} {'dovecot/despatch':>17}")
    p(f"  {'PSS delta of the whole server':34} "
      f"{dm.get('pss_delta', 0):10.1f} {vm.get('pss_delta', 0):10.1f} "
      f"{ratio(vm.get('pss_delta'), dm.get('pss_delta')):>17}")
    p(f"  {'no SELECT (LOGIN, IDLE) [1]':34} "
      f"{dm.get('pss_delta_nosel', 0):10.1f} "
      f"{vm.get('pss_delta_nosel', 0):10.1f} "
      f"{ratio(vm.get('pss_delta_nosel'), dm.get('pss_delta_nosel')):>17}")
    p(f"  {'RSS delta of the whole server':34} "
      f"{dm.get('rss_delta', 0):10.1f} {vm.get('rss_delta', 0):10.1f}")
    p("  [1] despatch: PSS delta of the server; Dovecot: PSS sum of its imap "
      "processes")
    if "pss_imap_procs" in vm:
        p(f"  {'Dovecot: PSS sum of imap procs':34} {'':10} "
          f"{vm['pss_imap_procs']:10.1f} "
          f"{ratio(vm.get('pss_imap_procs'), dm.get('pss_delta')):>17}"
          f"   ({vm['n_imap_procs']} imap processes)")
    p("")
    p(f"(b) commands per second, {CLIENTS} concurrent clients "
      "(client CPU % of one core in brackets)")
    p(f"  {'command':22} {'despatch':>16} {'dovecot':>16} "
      f"{'despatch/dovecot':>17}")
    for k in list(MIX) + ["MIX (all)"]:
        a = d.get("tp", {}).get(k)
        b = v.get("tp", {}).get(k)
        fa = f"{a[0]:.0f} ({100 * a[1]:.0f}%)" if a else "-"
        fb = f"{b[0]:.0f} ({100 * b[1]:.0f}%)" if b else "-"
        p(f"  {k:22} {fa:>16} {fb:>16} "
          f"{ratio(a and a[0], b and b[0]):>17}")
    if BIG:
        p("")
        p(f"(c) UID SEARCH BODY over {BIG} messages (median of 3), seconds")
        p(f"  loading: despatch by SMTP BDAT (8 sessions) "
          f"{d.get('load_big_s', 0):.0f}s, Dovecot by APPEND (32 connections) "
          f"{v.get('load_big_s', 0):.0f}s")
        for w in ("zzyzxquux", "invoice"):
            a = d.get("search", {}).get(w)
            b = v.get("search", {}).get(w)
            fa = f"{a[0]:.3f} ({a[1]} hits)" if a else "-"
            fb = f"{b[0]:.3f} ({b[1]} hits)" if b else "-"
            p(f"  BODY {w:12} despatch {fa:>22}  dovecot {fb:>22}  "
              f"dovecot/despatch {ratio(b and b[0], a and a[0])}")
        if d.get("search_indexed"):
            p("  despatch right after loading searches the text of messages"
              " not yet indexed (above);")
            p("  once its index has caught up (Dovecot here has no FTS"
              " plugin: it always reads):")
            for w in ("zzyzxquux", "invoice"):
                a = d["search_indexed"].get(w)
                b = v.get("search", {}).get(w)
                fa = f"{a[0]:.3f} ({a[1]} hits)" if a else "-"
                fb = f"{b[0]:.3f} ({b[1]} hits)" if b else "-"
                p(f"  BODY {w:12} despatch {fa:>22}  dovecot {fb:>22}  "
                  f"dovecot/despatch {ratio(b and b[0], a and a[0])}")
    if d.get("settled"):
        p("")
        p("despatch fills its full-text index after the 250, in the"
          " background; the bench waits for")
        p("the backlog to drain after each load and phase (Dovecot indexes"
          " inside the command):")
        for k, (n, secs) in d["settled"].items():
            p(f"  {k:28} {n:7} messages in {secs:6.1f}s"
              f" ({n / secs if secs else 0:.0f}/s)")
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    path = os.path.join(ROOT, "bench", "out",
                        time.strftime("imap-%Y%m%d-%H%M%S.txt"))
    with open(path, "w") as f:
        f.write(text + "\n")
    log(f"written to {path}")


if __name__ == "__main__":
    main()
