# SPDX-License-Identifier: MIT
"""Replays the protocol transcripts tests/transcripts/{smtp,imap}/*.txt, each
against a fresh `despatch serve` over one TCP connection (SMTP on 25+N, IMAP
on 143+N), and fails at the first server line that does not match.

Server setup: the conftest users (alice, bob, carol @example.test, password
integration-test-password) and the alias team@example.test -> alice, bob.

File format (tests/transcripts/README.md, plus the S~ line defined here).
Lines are read in order; blank lines and lines starting with "#" are
ignored. A directive is two characters, then one space, then its text (the
space may be missing when the text is empty, as in "C:"):

  C: text     the client sends text followed by CRLF
  C< text     the client sends text as is (no CRLF added)
  S: text     the next server line must start with text (a prefix; trailing
              spaces in the file count)
  S~ regex    the next server line must match the Python regular expression
              (re.match: anchored at the start; add $ to anchor the end)
  S+ text     lines are skipped up to one starting with text, which must
              come. SMTP: only "NNN-" continuation lines may be skipped (a
              multi-line reply ending in a line starting with text). IMAP:
              any lines may be skipped (untagged data whose number and order
              vary, literal contents), at most 10,000 of them.
  TLS         the client starts a TLS handshake now (after the server's
              go-ahead: SMTP "220 2.0.0 Ready to start TLS", IMAP "OK" to
              STARTTLS); any plaintext the server sent after the go-ahead
              is a failure. The certificate is not verified.
  CLOSED      the server must close the connection now: EOF, with no
              further line first
  !config key=value   before the connection: sets a config value; the key
              is <group>_<name>, e.g. smtp_reject_bare_lf=true sets
              reject_bare_lf in the smtp group
  !count USER N       after the connection: `despatch mail list USER INBOX`
              lists N messages

In C:, C< text the escapes \\r \\n \\t \\\\ and \\xHH are decoded; a
backslash before any other character is kept as is. S: and S+ text are
compared literally (no escapes). The greeting is matched by the first S:
line. Every read waits at most 15 s.
"""
import re
import socket
import ssl
import time
from pathlib import Path

import pytest

from conftest import DOMAIN, HOST, wait_imap

ROOT = Path(__file__).resolve().parents[2] / "tests" / "transcripts"
FILES = (sorted(ROOT.glob("smtp/*.txt")) +
         sorted(ROOT.glob("smtp/submission/*.txt")) +
         sorted(ROOT.glob("imap/*.txt")))
READ_TIMEOUT = 15
SKIP_MAX = 10000


def unescape(text):
    out = bytearray()
    i = 0
    b = text.encode("utf-8")
    while i < len(b):
        c = b[i:i + 1]
        if c == b"\\" and i + 1 < len(b):
            n = b[i + 1:i + 2]
            if n in (b"r", b"n", b"t", b"\\"):
                out += {b"r": b"\r", b"n": b"\n", b"t": b"\t",
                        b"\\": b"\\"}[n]
                i += 2
                continue
            if n == b"x" and re.match(rb"[0-9a-fA-F]{2}", b[i + 2:i + 4]):
                out.append(int(b[i + 2:i + 4], 16))
                i += 4
                continue
        out += c
        i += 1
    return bytes(out)


def parse(path):
    """[(lineno, op, text)] with op in C: C< S: S~ S+ TLS CLOSED !config
    !count."""
    steps = []
    for n, raw in enumerate(path.read_text("utf-8").split("\n"), 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip() or line.startswith("#"):
            continue
        if line in ("TLS", "CLOSED"):
            steps.append((n, line, ""))
        elif (line.startswith("!config ") or line.startswith("!count ")
              or line.startswith("!listener ")):
            op, _, text = line.partition(" ")
            steps.append((n, op, text))
        elif line[:2] in ("C:", "C<", "S:", "S~", "S+"):
            if len(line) > 2 and line[2] != " ":
                pytest.fail(f"{path.name}:{n}: no space after {line[:2]}")
            steps.append((n, line[:2], line[3:]))
        else:
            pytest.fail(f"{path.name}:{n}: unknown line {line[:80]!r}")
    return steps


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port),
                                             timeout=READ_TIMEOUT)
        self.buf = b""
        self.log = []  # ("C"/"S", bytes) for the failure message

    def send(self, data):
        self.log.append(("C", data))
        self.sock.sendall(data)

    def line(self):
        """The next line without CRLF (a bare LF ends a line too, so that
        a broken server cannot hang the runner); None on EOF."""
        deadline = time.monotonic() + READ_TIMEOUT
        while b"\n" not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError("no complete line within "
                                     f"{READ_TIMEOUT}s; have {self.buf!r}")
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError(f"no line within {READ_TIMEOUT}s; "
                                     f"have {self.buf[:200]!r}") from None
            except (ConnectionResetError, ssl.SSLError):
                chunk = b""
            if not chunk:
                if self.buf:
                    rest, self.buf = self.buf, b""
                    self.log.append(("S", rest))
                    return rest
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        if line.endswith(b"\r"):
            line = line[:-1]
        self.log.append(("S", line))
        return line

    def starttls(self):
        assert not self.buf, f"plaintext after the TLS go-ahead: {self.buf!r}"
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)
        self.log.append(("C", b"<TLS handshake>"))

    def transcript(self):
        out = []
        for who, data in self.log[-40:]:
            d = data if len(data) < 300 else data[:300] + b"..."
            out.append(f"{who}: {d!r}")
        return "\n".join(out)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def apply_config(server, setting):
    key, _, value = setting.partition("=")
    group, _, name = key.strip().partition("_")
    path = server.config_path()
    text = path.read_text()
    m = re.search(rf"(?ms)^{group}\s*=\s*\{{.*?^\}};", text)
    assert m, f"no {group} group in the config"
    block, n = re.subn(rf"(\b{name}\s*=\s*)[^;\n]+;",
                       lambda mm: mm.group(1) + value.strip() + ";",
                       m.group(0), count=1)
    if n == 0:
        block = block[:block.rindex("}")] + f"  {name} = {value.strip()};\n}};"
    path.write_text(text[:m.start()] + block + text[m.end():])


def replay(server, path, proto):
    steps = parse(path)
    for n, op, text in steps:
        if op == "!config":
            apply_config(server, text)
    server.start()
    listener = next((t for _, op, t in steps if op == "!listener"), "smtp")
    if proto == "imap":
        wait_imap(server)
        port = 143 + server.offset
    elif listener == "submission":
        port = 587 + server.offset
    elif listener == "submissions":
        port = 465 + server.offset
    else:
        port = server.port
    c = Conn(port)
    if listener == "submissions":
        c.starttls()  # implicit TLS: before the greeting
    where = ""
    try:
        for n, op, text in steps:
            where = f"{path.relative_to(ROOT)}:{n}: {op} {text[:100]}"
            if op == "C:":
                c.send(unescape(text) + b"\r\n")
            elif op == "C<":
                c.send(unescape(text))
            elif op in ("S:", "S~"):
                line = c.line()
                assert line is not None, "connection closed"
                s = line.decode("utf-8", "replace")
                if op == "S:":
                    assert s.startswith(text), f"got {s[:300]!r}"
                else:
                    assert re.match(text, s), f"got {s[:300]!r}"
            elif op == "S+":
                for _ in range(SKIP_MAX):
                    line = c.line()
                    assert line is not None, "connection closed"
                    s = line.decode("utf-8", "replace")
                    if s.startswith(text):
                        break
                    if proto == "smtp":
                        assert re.match(r"\d{3}-", s), f"got {s[:300]!r}"
                else:
                    raise AssertionError(f"{SKIP_MAX} lines without a match")
            elif op == "TLS":
                c.starttls()
            elif op == "CLOSED":
                line = c.line()
                assert line is None, f"expected EOF, got {line[:300]!r}"
        where = ""
    except AssertionError as e:
        pytest.fail(f"{where}\n{e}\n--- last lines of the session:\n"
                    f"{c.transcript()}")
    finally:
        c.close()
    for n, op, text in steps:
        if op == "!count":
            user, want = text.split()
            got = len(server.uids(user))
            assert got == int(want), \
                f"{path.name}:{n}: {user} has {got} messages, want {want}"


@pytest.mark.parametrize("path", FILES,
                         ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_transcript(despatch, path):
    # The alias of the transcript README, made before the server starts.
    despatch.cli("alias", "add", f"team@{DOMAIN}", f"alice@{DOMAIN}")
    despatch.cli("alias", "add", f"team@{DOMAIN}", f"bob@{DOMAIN}")
    replay(despatch, path, "smtp" if path.parent.name == "submission"
           else path.parent.name)
