# SPDX-License-Identifier: MIT
"""IMAP helpers for the integration tests: a raw IMAP client with a small
response parser, logins through imaplib, fast SMTP delivery, modified UTF-7.

Every read is bounded (socket timeout, and a deadline per response); nothing
here loops without a limit.

Parsed values (parse()): atoms are str, quoted strings are Str (a str
subclass, so "NIL" quoted is not NIL), literals (and literal8 "~{n}") are
bytes, NIL is None, parenthesised lists are Python lists. An atom that
contains "[" extends to the matching "]" (so BODY[HEADER.FIELDS (A B)]<0>
is one atom).
"""
import base64
import imaplib
import re
import smtplib
import socket
import ssl
import time
import zlib

from conftest import DOMAIN, HOST, PASSWORD

TIMEOUT = 20  # seconds per socket operation and per response


def imap_port(server):
    return 143 + server.offset


def imaps_port(server):
    return 993 + server.offset


def addr(local):
    return local if "@" in local else f"{local}@{DOMAIN}"


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# --- modified UTF-7 (RFC 3501 §5.1.3) -----------------------------------------
def read_until_eof(c, timeout=10):
    """Everything an Imap connection c receives until the server closes or
    resets it (bounded by timeout): (bytes, closed)."""
    data, c.buf = c.buf, b""
    deadline = time.monotonic() + timeout
    c.sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            chunk = c.sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def mutf7_encode(s):
    out, buf = [], []

    def flush():
        if buf:
            b = "".join(buf).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=")
                       .replace("/", ",") + "-")
            buf.clear()

    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "&":
            j = s.index("-", i)
            if j == i + 1:
                out.append("&")
            else:
                b = s[i + 1:j].replace(",", "/")
                b += "=" * (-len(b) % 4)
                out.append(base64.b64decode(b).decode("utf-16-be"))
            i = j + 1
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


# --- the response parser --------------------------------------------------------
class Str(str):
    """A quoted string (as opposed to an atom)."""


class ParseError(Exception):
    pass


def parse(data, pos=0, end=None, depth=0):
    """Parses data[pos:end] (bytes) into a list of values; see the module
    docstring."""
    end = len(data) if end is None else end
    out, stack = [], []
    cur = out
    while pos < end:
        c = data[pos:pos + 1]
        if c == b" ":
            pos += 1
        elif c == b"(":
            stack.append(cur)
            new = []
            cur.append(new)
            cur = new
            pos += 1
        elif c == b")":
            if not stack:
                raise ParseError(f"unbalanced ) at {pos}: {data[:200]!r}")
            cur = stack.pop()
            pos += 1
        elif c == b'"':
            pos += 1
            s = bytearray()
            while True:
                if pos >= end:
                    raise ParseError(f"unterminated quoted: {data[:200]!r}")
                ch = data[pos]
                if ch == 0x5c:
                    s.append(data[pos + 1])
                    pos += 2
                elif ch == 0x22:
                    pos += 1
                    break
                else:
                    s.append(ch)
                    pos += 1
            cur.append(Str(s.decode("utf-8", "surrogateescape")))
        elif c == b"{" or (c == b"~" and data[pos + 1:pos + 2] == b"{"):
            if c == b"~":
                pos += 1
            m = re.match(rb"\{(\d+)\+?\}\r\n", data[pos:pos + 40])
            if not m:
                raise ParseError(f"bad literal at {pos}: {data[pos:pos+40]!r}")
            n = int(m.group(1))
            pos += m.end()
            cur.append(bytes(data[pos:pos + n]))
            pos += n
        else:
            start = pos
            while pos < end:
                ch = data[pos:pos + 1]
                if ch in (b" ", b"(", b")", b"\r", b"\n"):
                    break
                if ch == b"[":
                    d = 0
                    while pos < end:
                        if data[pos:pos + 1] == b"[":
                            d += 1
                        elif data[pos:pos + 1] == b"]":
                            d -= 1
                            if d == 0:
                                break
                        pos += 1
                pos += 1
            tok = data[start:pos].decode("utf-8", "surrogateescape")
            if tok.upper() == "NIL":
                cur.append(None)
            elif tok:
                cur.append(tok)
            else:
                pos += 1
    if stack:
        raise ParseError(f"unbalanced ( in {data[:300]!r}")
    return out


def s(v):
    """A string value (quoted, literal or atom) as str; None stays None."""
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    return str(v)


def pairs(lst):
    """A FETCH attribute list [k1, v1, k2, v2, ...] as a dict with upper
    case keys."""
    assert len(lst) % 2 == 0, lst
    return {str(lst[i]).upper(): lst[i + 1] for i in range(0, len(lst), 2)}


class Resp:
    """One server response: raw bytes (literals included, final CRLF
    stripped) and its tokens."""

    def __init__(self, raw):
        self.raw = raw
        try:
            self.tokens = parse(raw)
        except (ParseError, IndexError, ValueError) as e:
            self.tokens = None
            self.error = e

    @property
    def text(self):
        return self.raw.decode("utf-8", "replace")

    def __repr__(self):
        r = self.raw if len(self.raw) < 400 else self.raw[:400] + b"..."
        return f"Resp({r!r})"

    def kind(self):
        """Untagged kind: "EXISTS", "FETCH", "LIST", "OK" ... ('*' first)."""
        t = self.tokens or []
        if len(t) >= 3 and isinstance(t[1], str) and t[1].isdigit():
            return str(t[2]).upper()
        if len(t) >= 2:
            return str(t[1]).upper()
        return ""


class Literal:
    """A literal argument of a command: sent as {n} (waiting for "+"),
    {n+} when plus is set, or ~{n} with binary."""

    def __init__(self, data, plus=False, binary=False):
        self.data = data if isinstance(data, bytes) else data.encode()
        self.plus = plus
        self.binary = binary


class Result:
    def __init__(self, tag, status, text, untagged, tagged_raw):
        self.tag = tag
        self.status = status  # "OK" / "NO" / "BAD" / None (connection gone)
        self.text = text
        self.untagged = untagged
        self.tagged_raw = tagged_raw

    def __repr__(self):
        return (f"Result({self.status} {self.text!r}, untagged="
                f"{self.untagged!r})")

    def ok(self):
        assert self.status == "OK", self
        return self

    def of(self, kind):
        return [r for r in self.untagged if r.kind() == kind.upper()]

    def fetches(self):
        """{seq: attribute dict} of the FETCH responses (later ones for the
        same seq update earlier ones)."""
        out = {}
        for r in self.of("FETCH"):
            seq = int(r.tokens[1])
            out.setdefault(seq, {}).update(pairs(r.tokens[3]))
        return out

    def code(self, name):
        """The tagged response code's arguments ("[NAME args]") or None."""
        m = re.match(r"\[" + re.escape(name) + r"(?: ([^\]]*))?\]",
                     self.text, re.I)
        if not m:
            return None
        return m.group(1) or ""

    def untagged_code(self, name):
        """Arguments of "* OK [NAME args]" responses (first match)."""
        for r in self.untagged:
            m = re.match(rb"\* (?:OK|NO|BAD) \[" + re.escape(name.encode())
                         + rb"(?: ([^\]]*))?\]", r.raw, re.I)
            if m:
                return (m.group(1) or b"").decode()
        return None


class Imap:
    """A raw IMAP client on 127.0.0.1."""

    def __init__(self, port, tls=False, timeout=TIMEOUT, greeting=True):
        sock = socket.create_connection((HOST, port), timeout=timeout)
        if tls:
            sock = tls_context().wrap_socket(sock)
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.n = 0
        self.inflate = None
        self.deflate = None
        self.eof = False
        self.greeting = self.read_resp() if greeting else None

    # --- transport ---
    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
            return False
        if self.inflate is not None:
            data = self.inflate.decompress(data)
        self.buf += data
        return True

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.deflate is not None:
            data = self.deflate.compress(data) + self.deflate.flush(
                zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def readline(self, deadline=None):
        """One line without CRLF; None on EOF."""
        deadline = deadline or time.monotonic() + self.timeout
        while b"\r\n" not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no line within the deadline; have "
                                   f"{self.buf[:300]!r}")
            if not self._recv():
                return None
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_resp(self, timeout=None):
        """One whole response (literals included) as a Resp; None on EOF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        line = self.readline(deadline)
        if line is None:
            return None
        raw = line
        while True:
            m = re.search(rb"~?\{(\d+)\+?\}$", line)
            if not m:
                break
            n = int(m.group(1))
            while len(self.buf) < n:
                if time.monotonic() > deadline:
                    raise TimeoutError("literal not complete in time")
                if not self._recv():
                    return Resp(raw)
            raw += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]
            line = self.readline(deadline)
            if line is None:
                return Resp(raw)
            raw += line
        return Resp(raw)

    def wait_for(self, pred, timeout):
        """Reads responses until pred(resp) holds; returns (resp, list of
        responses read). resp is None on timeout or EOF."""
        seen = []
        deadline = time.monotonic() + timeout
        old = self.sock.gettimeout()
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, seen
                self.sock.settimeout(max(0.01, left))
                try:
                    r = self.read_resp(timeout=left)
                except (TimeoutError, socket.timeout):
                    return None, seen
                if r is None:
                    return None, seen
                seen.append(r)
                if pred(r):
                    return r, seen
        finally:
            self.sock.settimeout(old)

    # --- commands ---
    def tag(self):
        self.n += 1
        return f"T{self.n:03d}"

    def cmd(self, *parts, tag=None, timeout=None):
        """Sends a command made of str parts and Literal parts (joined by
        single spaces) and reads up to its tagged response."""
        tag = tag or self.tag()
        pieces = [tag]
        out = []
        for p in parts:
            if isinstance(p, Literal):
                pre = ("~" if p.binary else "") + "{%d%s}" % (
                    len(p.data), "+" if p.plus else "")
                pieces.append(pre)
                line = " ".join(pieces).encode()
                if p.plus:
                    out.append(line + b"\r\n" + p.data)
                    pieces = [""]
                else:
                    self.send(b"".join(out) + line + b"\r\n")
                    out = []
                    untagged = []
                    while True:
                        r = self.read_resp(timeout)
                        if r is None:
                            return Result(tag, None, "", untagged, b"")
                        if r.raw.startswith(b"+"):
                            break
                        if r.raw.startswith(tag.encode() + b" "):
                            return self._tagged(tag, r, untagged)
                        untagged.append(r)
                    self.send(p.data)
                    pieces = [""]
            else:
                pieces.append(p)
        line = " ".join(pieces)
        self.send(b"".join(out) + line.encode() + b"\r\n")
        return self.read_tagged(tag, timeout)

    def read_tagged(self, tag, timeout=None, untagged=None):
        untagged = [] if untagged is None else untagged
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{tag}: no tagged reply; got {untagged}")
            r = self.read_resp(timeout=left)
            if r is None:
                return Result(tag, None, "", untagged, b"")
            if r.raw.startswith(tag.encode() + b" "):
                return self._tagged(tag, r, untagged)
            untagged.append(r)

    @staticmethod
    def _tagged(tag, r, untagged):
        rest = r.raw[len(tag) + 1:].decode("utf-8", "replace")
        status, _, text = rest.partition(" ")
        return Result(tag, status.upper(), text, untagged, r.raw)

    def ok(self, *parts, **kw):
        r = self.cmd(*parts, **kw)
        assert r.status == "OK", f"{' '.join(str(p) for p in parts)}: {r}"
        return r

    def login(self, user="alice", password=PASSWORD):
        return self.ok("LOGIN", quote(addr(user)), quote(password))

    def enable_rev2(self):
        r = self.ok("ENABLE IMAP4rev2")
        assert any(re.match(rb"\* ENABLED.* IMAP4REV2", x.raw.upper())
                   for x in r.untagged), r
        return r

    def select(self, mailbox="INBOX", extra=""):
        return self.ok("SELECT", qmb(mailbox) + (" " + extra if extra
                                                  else ""))

    def compress(self):
        self.ok("COMPRESS DEFLATE")
        self.inflate = zlib.decompressobj(-15)
        self.deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION,
                                        zlib.DEFLATED, -15)
        if self.buf:  # bytes after the tagged OK are compressed already
            data, self.buf = self.buf, b""
            self.buf = self.inflate.decompress(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def quote(x):
    return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'


def qmb(name):
    """A mailbox name as an IMAP argument: quoted unless it is a literal
    already or contains non-ASCII (then a literal is better: use
    Literal)."""
    return name if name.startswith("{") else quote(name)


def session(server, user="alice", rev2=False, tls=False):
    """A logged-in raw session (plain from loopback, or IMAPS)."""
    c = Imap(imaps_port(server) if tls else imap_port(server), tls=tls)
    assert c.greeting is not None and c.greeting.raw.startswith(b"* OK"), \
        c.greeting
    c.login(user)
    if rev2:
        c.enable_rev2()
    return c


# --- imaplib -------------------------------------------------------------
def imaplib_login(server, user="alice", starttls=False, ssl_=False):
    if ssl_:
        c = imaplib.IMAP4_SSL(HOST, imaps_port(server),
                              ssl_context=tls_context(), timeout=TIMEOUT)
    else:
        c = imaplib.IMAP4(HOST, imap_port(server), timeout=TIMEOUT)
        if starttls:
            c.starttls(ssl_context=tls_context())
    typ, data = c.login(addr(user), PASSWORD)
    assert typ == "OK", data
    return c


# --- delivery --------------------------------------------------------------
def deliver(server, user, msgs, sender="sender@example.org"):
    """Delivers each message (bytes) to user over one smtplib session."""
    with smtplib.SMTP(HOST, server.port, local_hostname="client.example.org",
                      timeout=60) as c:
        c.ehlo()
        for m in msgs:
            assert c.sendmail(sender, [addr(user)], m) == {}


def deliver_fast(server, user, msgs, sender="bulk@example.org", batch=100):
    """Delivers many messages over one SMTP session with BDAT, pipelined in
    batches (no round trip per message). Returns how many were accepted."""
    sock = socket.create_connection((HOST, server.port), timeout=120)
    f = sock.makefile("rb")

    def reply():
        lines = []
        for _ in range(100):
            line = f.readline()
            if not line:
                raise AssertionError(f"SMTP EOF after {lines}")
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), lines
        raise AssertionError("SMTP reply too long")

    try:
        assert reply()[0] == 220
        sock.sendall(b"EHLO client.example.org\r\n")
        code, lines = reply()
        assert code == 250 and any(b"CHUNKING" in l for l in lines), lines
        ok = 0
        for i in range(0, len(msgs), batch):
            chunk = msgs[i:i + batch]
            out = []
            for m in chunk:
                out.append(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{addr(user)}>"
                           f"\r\nBDAT {len(m)} LAST\r\n".encode() + m)
            sock.sendall(b"".join(out))
            for _ in chunk:
                c1, l1 = reply()
                c2, l2 = reply()
                c3, l3 = reply()
                assert (c1, c2, c3) == (250, 250, 250), (l1, l2, l3)
                ok += 1
        sock.sendall(b"QUIT\r\n")
        return ok
    finally:
        f.close()
        sock.close()


def simple_msg(i, subject=None, body=None, sender="sender@example.org",
               to="alice", date="Thu, 01 Jan 2026 00:00:00 +0000",
               extra=()):
    subject = subject if subject is not None else f"message {i}"
    body = body if body is not None else f"Body of message {i}.\r\n"
    hdrs = [f"From: <{sender}>", f"To: <{addr(to)}>", f"Subject: {subject}",
            f"Message-ID: <m{i}.{time.time_ns()}@example.org>",
            f"Date: {date}", *extra]
    if isinstance(body, str):
        body = body.encode()
    return ("\r\n".join(hdrs) + "\r\n\r\n").encode() + body


def append(c, mailbox, msg, flags=None, date=None):
    """APPEND over a raw session; returns the Result (OK asserted)."""
    parts = ["APPEND", qmb(mailbox)]
    if flags is not None:
        parts.append("(" + " ".join(flags) + ")")
    if date is not None:
        parts.append(quote(date))
    parts.append(Literal(msg))
    return c.ok(*parts)


def appenduid(result):
    """(uidvalidity, uid set string) of an APPENDUID tagged code."""
    args = result.code("APPENDUID")
    assert args is not None, result
    v, uids = args.split()
    return int(v), uids


def expand(uidset):
    """'1:3,5' -> [1, 2, 3, 5]."""
    out = []
    for part in uidset.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out.extend(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(part))
    return out
