# SPDX-License-Identifier: MIT
"""Remote MXs for the outbound tests, each bound to its own 127.0.0.x
address on a common port:

- FakeMX: an aiosmtpd server (python3-aiosmtpd) in a thread of the test
  process. A behaviour callable decides, per phase and argument, to answer
  normally, answer a given reply, hang (no answer until the test ends or
  `hang_seconds` pass) or drop the connection. It records every session:
  whether it was TLS, the raw MAIL and RCPT arguments (so DSN parameters
  are seen as sent), and each message's bytes exactly as received (after
  dot-unstuffing). It can advertise DSN and STARTTLS (self-signed cert).
- SmtpSink: Postfix's smtp-sink (/usr/sbin/smtp-sink) dumping each
  transaction to a file (-d), parsed back into envelope + bytes.

Nothing here waits without a bound.
"""
import asyncio
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from ports import pick_ports

SMTP_SINK = "/usr/sbin/smtp-sink"

# Behaviour answers.
NORMAL = None
HANG = ("hang",)
DROP = ("drop",)


def delay(seconds, reply=None):
    """Waits seconds, then answers reply (None: the normal answer)."""
    return ("delay", seconds, reply)


def addr_free(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def common_free_port(ips, tries=200):
    """A TCP port free on every address in ips, taken (ports.pick_ports)."""
    return pick_ports(lambda p: all(addr_free(ip, p) for ip in ips),
                      tries=tries)


def self_signed(dirpath, cn="mx.remote.test"):
    """(cert, key) paths of a fresh self-signed RSA certificate."""
    d = Path(dirpath)
    d.mkdir(parents=True, exist_ok=True)
    cert, key = d / "mx-cert.pem", d / "mx-key.pem"
    if not cert.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", str(key), "-out", str(cert),
                        "-days", "2", "-subj", f"/CN={cn}"],
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
    return cert, key


def wait_listening(ip, port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((ip, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Session:
    """What one connection did."""

    def __init__(self, peer):
        self.peer = peer
        self.ehlo = None
        self.tls = False
        self.transactions = []  # Transaction, in order (completed or not)
        self.closed = False

    def delivered(self):
        return [t for t in self.transactions if t.accepted]


class Transaction:
    def __init__(self, mail_arg, tls):
        self.mail_arg = mail_arg  # raw "FROM:<a> RET=HDRS ..." as sent
        self.rcpt_args = []  # raw "TO:<b> NOTIFY=..." of every RCPT
        self.rcpts = []  # addresses answered 2xx
        self.mail_from = None
        self.data = None  # bytes after dot-unstuffing, CRLF as sent
        self.accepted = False  # the DATA reply was 2xx
        self.tls = tls

    def mail_params(self):
        return params_of(self.mail_arg)


def params_of(arg):
    """{NAME: value} of the parameters after the <address> in a raw MAIL
    or RCPT argument (the name upper-cased, the value as sent)."""
    if arg is None:
        return {}
    i = arg.find(">")
    rest = arg[i + 1:] if i >= 0 else ""
    out = {}
    for tok in rest.split():
        k, _, v = tok.partition("=")
        out[k.upper()] = v
    return out


def addr_of(arg):
    i, j = arg.find("<"), arg.find(">")
    return arg[i + 1:j] if 0 <= i < j else arg.split(":", 1)[-1].strip()


class _Handler:
    def __init__(self, mx):
        self.mx = mx

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        if self.mx.dsn:
            responses.insert(len(responses) - 1, "250-DSN")
        if self.mx.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 OK queued"


class _Server(SMTP):
    """aiosmtpd's SMTP with the behaviour hooks and raw recording. DSN
    parameters are recorded raw and removed before aiosmtpd parses the
    rest (it refuses parameters it does not know and upper-cases
    values)."""

    def __init__(self, mx, *args, **kw):
        super().__init__(*args, **kw)
        self.mx = mx
        self.rec = None
        self.cur = None
        self.counted = False

    def _record_session(self):
        if self.rec is None:
            peer = getattr(self.session, "peer", None)
            self.rec = Session(peer)
            with self.mx.lock:
                self.mx.sessions.append(self.rec)
        return self.rec

    async def _act(self, phase, arg):
        """Applies the behaviour: True when it answered (the command is
        done), False to go on normally."""
        act = self.mx.behaviour(phase, arg, self.mx) if self.mx.behaviour \
            else None
        if act is None:
            return False
        if isinstance(act, tuple) and act[0] == "delay":
            await asyncio.sleep(act[1])
            if act[2] is None:
                return False
            await self.push(act[2])
            return True
        if act == HANG:
            with self.mx.lock:
                self.mx.hangs += 1
            await asyncio.sleep(self.mx.hang_seconds)
            self.transport.close()
            return True
        if act == DROP:
            with self.mx.lock:
                self.mx.drops += 1
            self.transport.close()
            return True
        await self.push(act)
        return True

    async def smtp_EHLO(self, hostname):
        rec = self._record_session()
        rec.ehlo = hostname
        tr = self.mx.tracker
        if tr is not None and not self.counted:
            self.counted = True
            with tr.lock:
                tr.active += 1
                tr.max_active = max(tr.max_active, tr.active)
        if await self._act("EHLO", hostname):
            return
        await super().smtp_EHLO(hostname)

    async def smtp_STARTTLS(self, arg):
        self._record_session()
        await super().smtp_STARTTLS(arg)

    async def smtp_MAIL(self, arg):
        rec = self._record_session()
        rec.tls = self.session.ssl is not None or \
            self.transport.get_extra_info("sslcontext") is not None
        if await self._act("MAIL", arg):
            return
        t = Transaction(arg, rec.tls)
        stripped = arg
        if arg is not None:
            keep = [w for w in arg.split()
                    if w.split("=", 1)[0].upper() not in ("RET", "ENVID",
                                                          "AUTH")]
            stripped = " ".join(keep)
        before = self.envelope.mail_from
        await super().smtp_MAIL(stripped)
        if self.envelope.mail_from is not None and before is None:
            t.mail_from = self.envelope.mail_from
            self.cur = t
            rec.transactions.append(t)

    async def smtp_RCPT(self, arg):
        if await self._act("RCPT", arg):
            if self.cur is not None:
                self.cur.rcpt_args.append(arg)
            return
        stripped = arg
        if arg is not None:
            keep = [w for w in arg.split()
                    if w.split("=", 1)[0].upper() not in ("NOTIFY", "ORCPT")]
            stripped = " ".join(keep)
        n = len(self.envelope.rcpt_tos)
        await super().smtp_RCPT(stripped)
        if self.cur is not None:
            self.cur.rcpt_args.append(arg)
            if len(self.envelope.rcpt_tos) > n:
                self.cur.rcpts.append(self.envelope.rcpt_tos[-1])

    async def smtp_DATA(self, arg):
        if await self._act("DATA", arg):
            return
        await super().smtp_DATA(arg)

    async def smtp_RSET(self, arg):
        self.cur = None
        await super().smtp_RSET(arg)

    async def push(self, status):
        # The reply to the final dot: record the message and let the
        # behaviour replace the answer (phase "DOT", arg = the rcpts).
        return await super().push(status)

    def _set_post_data_state(self):
        super()._set_post_data_state()

    async def _call_handler_hook(self, command, *args):
        if command == "DATA":
            t = self.cur
            data = bytes(self.envelope.original_content or b"")
            act = self.mx.behaviour("DOT", list(self.envelope.rcpt_tos),
                                    self.mx) if self.mx.behaviour else None
            if act == HANG:
                with self.mx.lock:
                    self.mx.hangs += 1
                if t is not None:
                    t.data = data
                await asyncio.sleep(self.mx.hang_seconds)
                self.transport.close()
                return "421 4.4.2 hung up"
            if act == DROP:
                with self.mx.lock:
                    self.mx.drops += 1
                if t is not None:
                    t.data = data
                self.transport.close()
                return "421 4.4.2 dropped"
            if isinstance(act, tuple) and act[0] == "delay":
                await asyncio.sleep(act[1])
                act = act[2]
            reply = act or "250 2.0.0 OK queued"
            if t is not None:
                t.data = data
                t.accepted = reply.startswith("2")
                if t.accepted:
                    with self.mx.lock:
                        self.mx.messages.append(t)
            self.cur = None
            return reply
        return await super()._call_handler_hook(command, *args)

    def connection_lost(self, exc):
        if self.rec is not None:
            self.rec.closed = True
        tr = self.mx.tracker
        if tr is not None and self.counted:
            self.counted = False
            with tr.lock:
                tr.active -= 1
        return super().connection_lost(exc)


class _Controller(Controller):
    def __init__(self, mx, *args, **kw):
        self.mx = mx
        super().__init__(*args, **kw)

    def factory(self):
        return _Server(self.mx, self.handler, **self.SMTP_kwargs)

    def _trigger_server(self):
        # The readiness probe of aiosmtpd connects and reads the greeting;
        # it is not a session of the test (it sends no EHLO).
        super()._trigger_server()


class Tracker:
    """Counts sessions (after EHLO) open at once over several FakeMXs."""

    def __init__(self):
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0


class FakeMX:
    """An aiosmtpd server on ip:port. behaviour(phase, arg, mx) -> None |
    "reply line" | HANG | DROP, with phase one of EHLO, MAIL, RCPT, DATA
    (the DATA command itself) and DOT (the end of data; arg: the accepted
    recipients)."""

    def __init__(self, ip, port, behaviour=None, starttls=False, dsn=False,
                 pipelining=True, tls_dir=None, hang_seconds=120,
                 size_limit=0, smtputf8=True, tracker=None):
        self.ip, self.port = ip, port
        self.behaviour = behaviour
        self.tracker = tracker  # a Tracker shared by several FakeMXs
        self.dsn = dsn
        self.pipelining = pipelining
        self.hang_seconds = hang_seconds
        self.lock = threading.Lock()
        self.sessions = []
        self.messages = []  # accepted Transactions, in order
        self.hangs = 0
        self.drops = 0
        kw = {}
        if starttls:
            cert, key = self_signed(tls_dir)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(cert), str(key))
            kw["tls_context"] = ctx
            kw["require_starttls"] = False
        self.ctl = _Controller(self, _Handler(self), hostname=ip, port=port,
                               decode_data=False, enable_SMTPUTF8=smtputf8,
                               ident="fake-mx", data_size_limit=size_limit,
                               **kw)

    def start(self):
        self.ctl.start()
        return self

    def stop(self):
        try:
            self.ctl.stop(no_assert=True)
        except Exception:  # noqa: BLE001 - teardown must go on
            pass

    def real_sessions(self):
        """Sessions that said EHLO/HELO or started a transaction (not the
        controller's readiness probe)."""
        with self.lock:
            return [s for s in self.sessions
                    if s.ehlo is not None or s.transactions]

    def received(self):
        with self.lock:
            return list(self.messages)

    def rcpts_received(self):
        """Every (rcpt, data) pair accepted, one per recipient."""
        out = []
        for t in self.received():
            for r in t.rcpts:
                out.append((r, t.data))
        return out


class SmtpSink:
    """Postfix's smtp-sink on ip:port, dumping each transaction to
    dir/<n>.<hex>. Extra smtp-sink options may be given (e.g. -r RCPT)."""

    def __init__(self, ip, port, dump_dir, extra=(), count=False):
        self.ip, self.port = ip, port
        self.dir = Path(dump_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.extra = list(extra)
        self.proc = None
        self.log_path = self.dir.parent / f"smtp-sink-{ip}.log"

    def start(self, timeout=10, dump=True):
        argv = [SMTP_SINK]
        if os.geteuid() == 0:
            argv += ["-u", "root"]
        if dump:
            argv += ["-d", str(self.dir) + "/%H%M%S."]
        argv += self.extra + [f"{self.ip}:{self.port}", "256"]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        if not wait_listening(self.ip, self.port, timeout):
            self.stop()
            raise RuntimeError(f"smtp-sink did not listen on {self.ip}:"
                               f"{self.port}:\n" +
                               self.log_path.read_text("utf-8", "replace"))
        return self

    def stop(self, timeout=10):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self._log.close()

    def dumps(self):
        """Parsed dumps: dicts with mail (X-Mail-Args), rcpts (X-Rcpt-Args
        list) and data (the message bytes as dumped: LF line ends, the
        trailing empty line removed). The readiness probe dumps nothing."""
        out = []
        for p in sorted(self.dir.iterdir()):
            raw = p.read_bytes()
            out.append(parse_sink_dump(raw, p))
        return out


def parse_sink_dump(raw, path=None):
    lines = raw.split(b"\n")
    d = {"mail": None, "rcpts": [], "helo": None, "path": path}
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith(b"X-Mail-Args: "):
            d["mail"] = ln[13:].decode("utf-8", "replace")
        elif ln.startswith(b"X-Rcpt-Args: "):
            d["rcpts"].append(ln[13:].decode("utf-8", "replace"))
        elif ln.startswith(b"X-Helo-Args: "):
            d["helo"] = ln[13:].decode("utf-8", "replace")
        elif ln.startswith(b"Received: "):
            # smtp-sink's own three-line Received: ends its headers.
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                i += 1
            break
        i += 1
    body = b"\n".join(lines[i:])
    # The dump ends with the message's last line's LF plus one empty line.
    if body.endswith(b"\n\n"):
        body = body[:-1]
    d["data"] = body
    return d


class ScriptedMX:
    """A raw TCP server on ip:port whose every connection runs
    script(sock, n) in a thread (n: the connection's number, from 0): for
    replies no real SMTP server sends (overlong, endless, bare LF, garbage,
    broken TLS). Sockets have a timeout; stop() closes everything."""

    def __init__(self, ip, port, script, timeout=30):
        self.ip, self.port, self.script = ip, port, script
        self.timeout = timeout
        self.conns = []
        self.count = 0
        self.lock = threading.Lock()
        self.ls = None
        self.thread = None
        self.stopping = False

    def start(self):
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((self.ip, self.port))
        self.ls.listen(64)
        self.ls.settimeout(0.2)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.ls.accept()
            except (socket.timeout, OSError):
                continue
            s.settimeout(self.timeout)
            with self.lock:
                n = self.count
                self.count += 1
                self.conns.append(s)
            threading.Thread(target=self._run, args=(s, n),
                             daemon=True).start()

    def _run(self, s, n):
        try:
            self.script(s, n)
        except OSError:
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass

    def stop(self):
        self.stopping = True
        if self.thread is not None:
            self.thread.join(5)
        try:
            self.ls.close()
        except OSError:
            pass
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass


def read_line(s, limit=4096):
    """One line from a raw socket (bounded, by the socket's timeout)."""
    buf = b""
    while not buf.endswith(b"\n") and len(buf) < limit:
        ch = s.recv(1)
        if not ch:
            break
        buf += ch
    return buf
