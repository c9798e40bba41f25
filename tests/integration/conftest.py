# SPDX-License-Identifier: MIT
"""Fixtures for the integration tests: a real `despatch serve` on 127.0.0.1.

Each test gets its own data dir under tmp_path, a free port offset (SMTP on
25+N), the domain example.test with the users alice, bob and carol, and a
server started as a subprocess with stderr captured to a file. Teardown
stops it with SIGTERM (bounded wait) and fails the test if it exited non-zero
or printed a sanitizer report. Every loop here is bounded in count and time.
"""
import os
import re
import resource
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from ports import pick_ports

HOST = "127.0.0.1"
DOMAIN = "example.test"
USERS = ("alice", "bob", "carol")
PASSWORD = "integration-test-password"
STD_PORTS = (25, 587, 465, 143, 993)

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "SUMMARY: UndefinedBehaviorSanitizer",
    "SUMMARY: AddressSanitizer",
)

SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
}

FIGURES = []  # (name, text) lines for the terminal summary


def despatch_bin():
    path = os.environ.get("DESPATCH_BIN")
    if not path:
        pytest.skip("DESPATCH_BIN is not set (run through `make integration`)")
    if not os.access(path, os.X_OK):
        pytest.fail(f"DESPATCH_BIN={path} is not an executable")
    return path


def sanitizer_report(text):
    """The first sanitizer marker in text, or None."""
    for m in SANITIZER_MARKERS:
        if m in text:
            return m
    return None


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port_offset():
    """An offset N such that every standard port + N is free on 127.0.0.1
    and taken for this test process (ports.pick_ports). 9 + N is taken
    too: a test uses it as a port where nothing listens."""
    # Every port + N stays below Linux's ephemeral range (32768 and up): a
    # client socket elsewhere can then never take a listener's port while a
    # test restarts the server (test_kill once failed on "address already
    # in use" that way).
    try:
        return pick_ports(port_free, span=(9,) + STD_PORTS, tries=200)
    except RuntimeError as e:
        pytest.fail(f"no free port offset: {e}")


def wait_port(port, timeout, proc=None):
    """Waits (bounded) until 127.0.0.1:port accepts; False on timeout or if
    proc exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def record_figure(name, text):
    """Prints a figure (visible with -s), appends it to the figures file
    under the pytest base temp dir and keeps it for the terminal summary."""
    line = f"FIGURE {name}: {text}"
    print(line, flush=True)
    FIGURES.append(line)
    path = getattr(record_figure, "path", None)
    if path is not None:
        with open(path, "a") as f:
            f.write(line + "\n")


def searchable_for_server(path):
    """Privilege drop: `despatch serve` started as root (CI) runs as the
    data dir's owner (user despatch, made by `init`), which must reach the
    data dir by its path, and read helper files the tests leave beside it
    (DESPATCH_TEST_CLOCK_FILE, a CA file, a fault-control file). pytest
    makes tmp_path and its parents mode 0700: they get o+x (0711: search,
    not list) up to the pytest-of-<user> folder. Not root: nothing to do."""
    if os.geteuid() != 0:
        return
    top = Path(tempfile.gettempdir()).resolve()
    d = Path(path).resolve()
    while d != top and d != d.parent:
        st = d.stat()
        if st.st_uid != os.geteuid():
            break
        if st.st_mode & 0o011 != 0o011:
            os.chmod(d, stat.S_IMODE(st.st_mode) | 0o011)
        if d.name.startswith("pytest-of-"):
            break
        d = d.parent


def server_prlimit(pid, res, limits=None):
    """resource.prlimit(pid, res[, limits]) on a server process. Run as
    root, the server runs as user despatch, and a container without
    CAP_SYS_RESOURCE (this one) lets only a process of the same uids read
    or change another's limits: the call is then made by a forked child
    that switches to the server's uid and gid first."""
    args = (pid, res) if limits is None else (pid, res, limits)
    ids = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid"):
                ids[k] = int(v.split()[0])
    if os.geteuid() != 0 or ids.get("Uid", 0) == 0:
        return resource.prlimit(*args)
    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # only syscalls here, then _exit
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(ids["Gid"], ids["Gid"], ids["Gid"])
            os.setresuid(ids["Uid"], ids["Uid"], ids["Uid"])
            os.write(w, repr(tuple(resource.prlimit(*args))).encode())
            code = 0
        except BaseException as e:  # noqa: B902 (reported to the parent)
            os.write(w, f"E{e!r}".encode())
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(child, 0)
    if out.startswith("E") or not out:
        raise OSError(f"prlimit({args}) as uid {ids['Uid']}: {out}")
    return tuple(int(x) for x in out.strip("()").split(",") if x.strip())


class Despatch:
    """One data dir and the server processes started on it."""

    def __init__(self, tmp_path):
        self.bin = despatch_bin()
        searchable_for_server(tmp_path)
        self.data = tmp_path / "data"
        self.logdir = tmp_path / "logs"
        self.logdir.mkdir()
        self.offset = free_port_offset()
        self.port = 25 + self.offset
        self.proc = None
        self.runs = 0
        self.stderr_path = None
        self.problems = []  # sanitizer reports / bad exits seen so far

    # --- the CLI -----------------------------------------------------------
    def env(self):
        e = dict(os.environ)
        e.update(SAN_ENV)
        return e

    def cli(self, *args, input=None, check=True, timeout=120):
        """Runs `despatch ARGS --data DATA`; returns the CompletedProcess
        (stdout bytes). Fails on a sanitizer report, and on rc != 0 when
        check is set."""
        argv = [self.bin, *args, "--data", str(self.data)]
        r = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.env(),
                           timeout=timeout)
        err = r.stderr.decode("utf-8", "replace")
        rep = sanitizer_report(err)
        if rep:
            pytest.fail(f"{' '.join(args)}: sanitizer report ({rep}):\n{err}")
        if check and r.returncode != 0:
            pytest.fail(f"`despatch {' '.join(args)}` exited {r.returncode}:"
                        f"\n{err}\n{r.stdout[-2000:]!r}")
        return r

    def init(self):
        self.cli("init", "--domain", DOMAIN, "--hostname", "mx.example.test",
                 "--listen", HOST, "--port-offset", str(self.offset))

    def add_user(self, local):
        self.cli("user", "add", f"{local}@{DOMAIN}",
                 input=(PASSWORD + "\n").encode())

    def config_path(self):
        return self.data / "despatch.conf"

    def set_smtp_limit(self, key, value):
        """Sets `key = value;` in the config file's smtp group (written by
        init); False if the file has no such setting to change."""
        p = self.config_path()
        text = p.read_text()
        new, n = re.subn(rf"(\b{key}\s*=\s*)[^;\n]+;", rf"\g<1>{value};",
                         text, count=1)
        if n == 0:
            return False
        p.write_text(new)
        return True

    def stats(self):
        out = self.cli("store", "stats").stdout.decode()
        d = {}
        for line in out.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                v = v.strip().split()[0] if v.strip() else ""
                try:
                    d[k.strip()] = int(v)
                except ValueError:
                    d[k.strip()] = v
        for k in ("messages", "logical_bytes", "unique_parts",
                  "physical_bytes"):
            assert k in d, f"store stats lacks {k}: {out!r}"
        return d

    def uids(self, user, mailbox="INBOX"):
        """The UIDs of `mail list USER MAILBOX`, ascending. A listing line
        is one message; its UID is the first integer token on the line
        (header lines, if any, have none)."""
        out = self.cli("mail", "list", f"{user}@{DOMAIN}" if "@" not in user
                       else user, mailbox).stdout.decode("utf-8", "replace")
        return parse_uids(out)

    def cat(self, user, uid, mailbox="INBOX"):
        addr = f"{user}@{DOMAIN}" if "@" not in user else user
        return self.cli("mail", "cat", addr, mailbox, str(uid)).stdout

    def verify(self):
        return self.cli("store", "verify", check=False)

    # --- the server --------------------------------------------------------
    def start(self, timeout=30):
        assert self.proc is None, "server already running"
        self.runs += 1
        self.stderr_path = self.logdir / f"serve-{self.runs}.log"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--data", str(self.data)],
            stdin=subprocess.DEVNULL, stdout=self._stderr,
            stderr=self._stderr, env=self.env())
        if not wait_port(self.port, timeout, self.proc):
            rc = self.proc.poll()
            if rc is None:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None
            self._stderr.close()
            pytest.fail(f"despatch serve did not accept on {HOST}:"
                        f"{self.port} within {timeout}s (rc={rc}):\n"
                        + self.stderr_text()[-4000:])

    def stderr_text(self, path=None):
        p = path or self.stderr_path
        try:
            return Path(p).read_text("utf-8", "replace")
        except OSError:
            return ""

    def _check_log(self, what):
        text = self.stderr_text()
        rep = sanitizer_report(text)
        if rep:
            self.problems.append(f"{what} ({self.stderr_path}): sanitizer "
                                 f"report {rep}:\n{text[-6000:]}")

    def stop(self, timeout=30):
        """SIGTERM, bounded wait; records a problem on a non-zero exit, a
        hang or a sanitizer report. Returns the exit code."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            rc = None
            self.problems.append(f"serve run {self.runs} did not exit "
                                 f"within {timeout}s of SIGTERM")
        self._stderr.close()
        if rc not in (0, None):
            self.problems.append(f"serve run {self.runs} exited {rc} after "
                                 f"SIGTERM:\n{self.stderr_text()[-4000:]}")
        self._check_log(f"serve run {self.runs}")
        return rc

    def kill(self):
        """SIGKILL (the crash of the kill test); only the log is checked."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.kill()
        proc.wait(30)
        self._stderr.close()
        self._check_log(f"serve run {self.runs} (SIGKILLed)")

    def restart(self):
        self.stop()
        self.start()

    def check_problems(self):
        if self.problems:
            pytest.fail("server problems:\n" + "\n".join(self.problems))


@pytest.fixture(scope="session", autouse=True)
def figures_file(tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "figures.txt"
    path.write_text("")
    record_figure.path = path
    yield path


@pytest.fixture
def despatch(tmp_path):
    """An initialised data dir with the users alice, bob and carol; not
    started. Teardown stops any running server and fails on problems."""
    d = Despatch(tmp_path)
    d.init()
    for u in USERS:
        d.add_user(u)
    yield d
    if d.proc is not None:
        d.stop()
    d.check_problems()


@pytest.fixture
def server(despatch):
    """A running server on the despatch fixture's data dir."""
    despatch.start()
    return despatch


def pytest_terminal_summary(terminalreporter, config):
    """The figures of every test process: this one's, or under xdist each
    worker's figures.txt (in <basetemp>/popen-gwN/)."""
    lines = list(FIGURES)
    paths = []
    factory = getattr(config, "_tmp_path_factory", None)
    if not lines and factory is not None:
        paths = sorted(factory.getbasetemp().glob("popen-gw*/figures.txt"))
        for p in paths:
            lines += p.read_text().splitlines()
    if lines:
        terminalreporter.section("despatch figures")
        for line in lines:
            terminalreporter.write_line(line)
        path = getattr(record_figure, "path", None)
        if path is not None:
            terminalreporter.write_line(f"(also in {path})")
        for p in paths:
            terminalreporter.write_line(f"(also in {p})")


# --- helpers shared by the tests ---------------------------------------------
def parse_uids(listing):
    uids = []
    for line in listing.splitlines():
        m = re.match(r"\s*(?:uid[=:\s]+)?(\d+)\b", line, re.I)
        if m:
            uids.append(int(m.group(1)))
    return sorted(uids)


def strip_trace(stored):
    """Splits stored bytes into (return_path_line, received_header, rest):
    the first line must be Return-Path:, then exactly one Received: header
    (possibly folded), then the received message bytes."""
    assert stored.startswith(b"Return-Path: <"), stored[:200]
    i = stored.index(b"\r\n") + 2
    rp = stored[:i]
    assert stored[i:i + 9].lower() == b"received:", stored[:400]
    j = stored.index(b"\r\n", i) + 2
    while stored[j:j + 1] in (b" ", b"\t"):
        j = stored.index(b"\r\n", j) + 2
    return rp, stored[i:j], stored[j:]


class Raw:
    """A raw SMTP client socket (127.0.0.1 only) with reply parsing."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """One complete reply: (code, [lines]); (None, []) on EOF."""
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            while b"\r\n" in self.buf:
                line, self.buf = self.buf.split(b"\r\n", 1)
                lines.append(line.decode("utf-8", "replace"))
                if len(line) >= 4 and line[3:4] == b" ":
                    return int(line[:3]), lines
                if len(line) < 4 or line[3:4] != b"-":
                    return int(line[:3]) if line[:3].isdigit() else -1, lines
            chunk = self.sock.recv(65536)
            if not chunk:
                return None, lines
            self.buf += chunk
        raise TimeoutError("no complete reply within 60s")

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def ehlo(self, name="client.example.org"):
        code, lines = self.cmd(f"EHLO {name}")
        assert code == 250, lines
        return [l[4:].upper() for l in lines]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- IMAP (issue 3) -------------------------------------------------------------
def imap_ports_of(d):
    """(IMAP with STARTTLS, IMAPS) ports of a Despatch: 143+N and 993+N."""
    return 143 + d.offset, 993 + d.offset


@pytest.fixture
def imap_ports(despatch):
    return imap_ports_of(despatch)


def wait_imap(d, timeout=20):
    """Fails the test unless both IMAP listeners of a started server accept
    within timeout seconds."""
    for p in imap_ports_of(d):
        if not wait_port(p, timeout, d.proc):
            pytest.fail(f"despatch serve does not accept IMAP on {HOST}:{p} "
                        f"within {timeout}s:\n" + d.stderr_text()[-3000:])


@pytest.fixture
def imap_server(server):
    """A running server whose IMAP listeners (143+N, 993+N) accept."""
    wait_imap(server)
    return server


@pytest.fixture(params=[False, True], ids=["rev1", "rev2"])
def rev2(request):
    """Runs a test twice: in an IMAP4rev1 session and in one that sent
    ENABLE IMAP4rev2."""
    return request.param
