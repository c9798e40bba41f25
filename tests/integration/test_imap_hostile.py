# SPDX-License-Identifier: MIT
"""IMAP under hostile or unlucky clients, beyond test_imap_limits.py:
limits at the byte (line length, literal count, literal size before login),
NUL and invalid UTF-8 in names and search strings, the pre-login
autologout, LOGINDISABLED from a non-loopback peer (in a network namespace
made here), many sessions, a client that never reads, a client that hangs
up inside an APPEND literal, password guessing; and the regressions of the
hardening pass: long MODIFIED sets, APPEND state after a syntax error, the
selected mailbox deleted or renamed by another session, the AUTHENTICATE
response wiped from memory. Every wait is bounded."""
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import PASSWORD, wait_imap
from imap_util import (Imap, Literal, addr, deliver, deliver_fast, expand,
                       imap_port, quote, read_until_eof, session, simple_msg)


# --- helpers -----------------------------------------------------------------
def rss_kb(server):
    """VmRSS of the server process in KiB."""
    text = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1))


def still_serving(server):
    c = session(server)
    c.ok("SELECT INBOX")
    c.ok("LOGOUT")
    c.close()


def stage_files(server):
    """Staged blob files in the store's tmp folder."""
    tmp = server.data / "store" / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []


def wait_no_stage_files(server, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not stage_files(server):
            return []
        time.sleep(0.1)
    return stage_files(server)


def set_imap_option(d, key, value):
    """Sets `key = value;` inside the imap group of the config."""
    p = d.config_path()
    text = p.read_text()
    start = text.index("imap = {")
    end = text.index("};", start)
    group = text[start:end]
    new, n = re.subn(rf"(\b{key}\s*=\s*)[^;\n]+;", rf"\g<1>{value};", group)
    if n == 0:
        new = group + f"  {key} = {value};\n"
    p.write_text(text[:start] + new + text[end:])


# --- regressions of the hardening pass ------------------------------------------
def test_long_modified_set_is_whole(imap_server):
    # STORE UNCHANGEDSINCE failing on ~400 scattered messages: a MODIFIED
    # set of ~1.5 KB used to be cut at 1 KiB, breaking the tagged line.
    n = deliver_fast(imap_server, "alice",
                     [simple_msg(i) for i in range(800)])
    assert n == 800
    c = session(imap_server)
    c.select("INBOX")
    odd = list(range(1, 801, 2))
    for uid_form in (False, True):
        verb = "UID STORE" if uid_form else "STORE"
        r = c.cmd(f"{verb} {','.join(map(str, odd))} (UNCHANGEDSINCE 0) "
                  "+FLAGS.SILENT (\\Flagged)")
        assert r.status == "OK", r
        mod = r.code("MODIFIED")
        assert mod is not None, r.tagged_raw[:200]
        assert len(mod) > 1024, len(mod)
        assert r.text.endswith("Conditional STORE failed"), r.text[-80:]
        assert expand(mod) == odd
    # nothing was changed, and the session goes on
    assert c.ok("SEARCH FLAGGED").of("SEARCH")[0].tokens[2:] == []
    c.ok("LOGOUT")
    c.close()


def test_append_state_dropped_after_syntax_error(imap_server):
    # A message literal streamed into APPEND, then a syntax error on the
    # rest of the line: the staged message is dropped at once (it used to
    # stay, with its staged blob on disk, until the next APPEND or the
    # disconnect).
    c = session(imap_server)
    body = os.urandom(1536 * 1024)  # incompressible: staged in a file
    msg = simple_msg(1, body=base64.encodebytes(body).replace(b"\n",
                                                              b"\r\n"))
    t = c.tag()
    c.send(f"{t} APPEND INBOX {{{len(msg)}+}}\r\n".encode() + msg
           + b" )garbage(\r\n")
    r = c.read_tagged(t)
    assert r.status == "BAD", r
    c.ok("NOOP")
    assert wait_no_stage_files(imap_server) == []
    # APPEND still works afterwards, and nothing of the bad one landed
    c.ok("APPEND INBOX", Literal(simple_msg(2)))
    r = c.select("INBOX")
    assert [int(x.tokens[1]) for x in r.of("EXISTS")] == [1], r
    c.ok("LOGOUT")
    c.close()
    still_serving(imap_server)


def test_selected_mailbox_deleted_by_other_session(imap_server):
    a = session(imap_server)
    b = session(imap_server, user="alice")
    a.ok('CREATE "Doomed"')
    a.ok('APPEND "Doomed"', Literal(simple_msg(1)))
    a.select("Doomed")
    b.ok('DELETE "Doomed"')
    t = a.tag()
    a.send(f"{t} NOOP\r\n")
    data, eof = read_until_eof(a)
    assert b"* BYE" in data and eof, data
    a.close()
    # the same while idling: BYE within the 1 s poll
    a = session(imap_server)
    a.ok('CREATE "Doomed2"')
    a.select("Doomed2")
    t = a.tag()
    a.send(f"{t} IDLE\r\n")
    assert a.read_resp().raw.startswith(b"+"), "no IDLE continuation"
    b.ok('DELETE "Doomed2"')
    data, eof = read_until_eof(a, timeout=5)
    assert b"* BYE" in data and eof, data
    a.close()
    # deleted and re-created under the same name: a new mailbox (a new
    # UIDVALIDITY), not the selected one
    a = session(imap_server)
    a.ok('CREATE "Again"')
    a.select("Again")
    b.ok('DELETE "Again"')
    b.ok('CREATE "Again"')
    a.send(f"{a.tag()} NOOP\r\n")
    data, eof = read_until_eof(a)
    assert b"* BYE" in data and eof, data
    a.close()
    b.ok("LOGOUT")
    b.close()
    still_serving(imap_server)


def test_selected_mailbox_renamed_by_other_session(imap_server):
    a = session(imap_server)
    b = session(imap_server)
    a.ok('CREATE "Moving"')
    for i in range(3):
        a.ok('APPEND "Moving"', Literal(simple_msg(i)))
    r = a.select("Moving")
    b.ok('RENAME "Moving" "Moved"')
    a.ok("NOOP")
    # the session follows the mailbox to its new name
    a.ok("STORE 2 +FLAGS (\\Flagged)")
    r = b.ok('STATUS "Moved" (MESSAGES)')
    assert "MESSAGES 3" in r.untagged[0].text, r
    b.select("Moved")
    assert b.ok("SEARCH FLAGGED").of("SEARCH")[0].tokens[2:] == ["2"]
    # a delivery to the new name reaches the renamed view
    b.ok('APPEND "Moved"', Literal(simple_msg(9)))
    r = a.ok("NOOP")
    assert [int(x.tokens[1]) for x in r.of("EXISTS")] == [4], r
    for c in (a, b):
        c.ok("LOGOUT")
        c.close()


def scan_memory(pid, needles, max_map=256 << 20):
    """Which of the byte strings in needles occur in the readable,
    writable private mappings (heap, stacks, anonymous) of pid."""
    found = set()
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if not parts[1].startswith("rw") or hi - lo > max_map:
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except OSError:
                continue
            for n in needles:
                if n in data:
                    found.add(n)
    return found


def test_authenticate_response_wiped(imap_server):
    # The base64 PLAIN response of an AUTHENTICATE continuation (and a
    # LOGIN line) must not stay in the server's memory after the login.
    if not os.access(f"/proc/{imap_server.proc.pid}/mem", os.R_OK):
        pytest.skip("cannot read the server's memory")
    user = addr("bob")
    resp = base64.b64encode(f"\0{user}\0{PASSWORD}".encode())
    c = Imap(imap_port(imap_server))
    t = c.tag()
    c.send(f"{t} AUTHENTICATE PLAIN\r\n")
    assert c.read_resp().raw.startswith(b"+")
    c.send(resp + b"\r\n")
    assert c.read_tagged(t).status == "OK"
    c.ok("NOOP")
    login_line = f"LOGIN {quote(addr('carol'))} {quote(PASSWORD)}".encode()
    d = Imap(imap_port(imap_server))
    d.login("carol")
    d.ok("NOOP")
    # later input overwrites the front of the buffer: look for the tails
    needles = [resp[16:], login_line[16:]]
    found = scan_memory(imap_server.proc.pid, needles)
    assert needles[0] not in found, "AUTHENTICATE response left in memory"
    assert needles[1] not in found, "LOGIN line left in memory"
    c.close()
    d.close()


# --- bad input ----------------------------------------------------------------
def line_answer(c, line, timeout=15, seen=None):
    """Sends line (+CRLF); returns the status of the tagged reply of its
    tag ("BYE" or "EOF" if the session ends first) and its raw line. Every
    response read is appended to seen (a list) if given."""
    c.send(line + b"\r\n")
    tag = line.split(b" ", 1)[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.read_resp(timeout=deadline - time.monotonic())
        if r is None:
            return "EOF", b""
        if seen is not None:
            seen.append(r.raw)
        if r.raw.startswith(b"* BYE"):
            return "BYE", r.raw
        if r.raw.startswith(tag + b" "):
            return r.raw[len(tag) + 1:].split(b" ", 1)[0].decode(), r.raw
    raise AssertionError("no answer")


@pytest.mark.parametrize("pre", [True, False], ids=["preauth", "authed"])
def test_line_length_at_limit(imap_server, pre):
    # Command text (CRLF excluded) of exactly the limit is a command; one
    # byte more is BAD "too long" and the session goes on.
    limit = 8 * 1024 if pre else 64 * 1024
    c = Imap(imap_port(imap_server)) if pre else session(imap_server)
    for n, want in ((limit, "OK"), (limit + 1, "BAD")):
        head = b"L1 NOOP "
        line = head + b"x" * (n - len(head))
        assert len(line) == n
        st, raw = line_answer(c, line)
        assert st == want, (n, st, raw[:200])
        if want == "BAD":
            assert b"too long" in raw.lower(), raw
    assert c.cmd("NOOP").status == "OK"
    c.close()


@pytest.mark.parametrize("pre", [True, False], ids=["preauth", "authed"])
def test_literal_count_limit(imap_server, pre):
    # 4 literals in a command before login, 1000 after; one more is BAD.
    limit = 4 if pre else 1000
    c = Imap(imap_port(imap_server)) if pre else session(imap_server)
    for n, want in ((limit, "OK"), (limit + 1, "BAD")):
        if n % 2:  # ID wants pairs: an odd count ends with a NIL value
            body = b" ".join(b"{1+}\r\nk" for _ in range(n)) + b" NIL"
        else:
            body = b" ".join(b"{1+}\r\nk" for _ in range(n))
        st, raw = line_answer(c, b"C1 ID (" + body + b")")
        assert st == want, (n, st, raw[:200])
    assert c.cmd("NOOP").status == "OK"
    c.close()


def test_literal_size_before_login(imap_server):
    # LITERAL- before login: {4096+} is fine; {4097+} is refused, and the
    # bytes of the refused literal never run as commands (a2 LOGOUT hides
    # inside it).
    c = Imap(imap_port(imap_server))
    st, raw = line_answer(c, b"a1 LOGIN {4096+}\r\n" + b"u" * 4096
                          + b" pass")
    assert st == "NO", raw  # an over-long user name is no user
    c.close()
    c = Imap(imap_port(imap_server))
    inner = b"\r\na2 LOGOUT\r\na3 CAPABILITY\r\n"
    payload = inner + b"x" * (4097 - len(inner))
    assert len(payload) == 4097
    c.send(b"a1 LOGIN {4097+}\r\n" + payload + b" pass\r\n")
    # the server skips the literal (and the rest of its line) or hangs up
    out = []
    st, raw = line_answer(c, b"a4 NOOP", seen=out)
    assert st in ("OK", "BYE", "EOF"), out
    assert any(x.startswith(b"a1 BAD") for x in out) or st != "OK", out
    seen = b"\n".join(out)
    assert b"a2 " not in seen and b"a3 " not in seen, seen
    assert b"Logging out" not in seen, seen
    c.close()
    still_serving(imap_server)


def test_nul_and_bad_utf8(imap_server, rev2):
    deliver(imap_server, "alice", [simple_msg(1, subject="caf\u00e9")])
    state = {"c": None, "bad": 0}

    def ask(line, allowed, select=False):
        # a fresh session before the BAD limit (20) would close it
        if state["c"] is None or state["bad"] >= 15:
            if state["c"] is not None:
                state["c"].close()
            state["c"] = session(imap_server, rev2=rev2)
            state["bad"] = 0
            if select:
                state["c"].select("INBOX")
        st, raw = line_answer(state["c"], line)
        assert st in allowed, (line[:60], raw)
        state["bad"] += st == "BAD"
        return st

    names = [b"a\0b", b"\xff\xfe", b"caf\xc3", b"\xc0\xaf", b"ok\xed\xa0\x80"]
    for n in names:
        for verb in (b"CREATE", b"SELECT", b"DELETE", b"STATUS"):
            extra = b" (MESSAGES)" if verb == b"STATUS" else b""
            ask(b"N1 " + verb + b" {%d+}\r\n" % len(n) + n + extra,
                ("NO", "BAD"))
    # a raw NUL or 8-bit byte in a quoted name
    ask(b'N2 CREATE "x\0y"', ("BAD",))
    ask(b'N3 CREATE "x\xffy"', ("NO", "BAD"))
    r = state["c"].ok('LIST "" "*"')
    assert all(b"\xff" not in x.raw and b"\0" not in x.raw
               for x in r.untagged), r
    # search strings
    state["c"].close()
    state["c"] = None
    for s_ in (b"a\0b", b"\xff\xfe", b"caf\xc3", b"\xc3\xa9\xc3"):
        for key in (b"SUBJECT", b"BODY", b"TEXT", b"HEADER X-A"):
            for cs in (b"", b"CHARSET UTF-8 "):
                ask(b"S1 SEARCH " + cs + key + b" {%d+}\r\n" % len(s_)
                    + s_, ("OK", "NO", "BAD"), select=True)
    c = session(imap_server, rev2=rev2)
    c.select("INBOX")
    r = c.ok("SEARCH SUBJECT caf")
    assert any(re.fullmatch(rb"\* (SEARCH 1|ESEARCH .*ALL 1)", x.raw)
               for x in r.untagged), r
    c.ok("LOGOUT")
    c.close()
    state["c"].close()
    still_serving(imap_server)


def test_prelogin_autologout(despatch):
    set_imap_option(despatch, "login_timeout_seconds", "10")
    despatch.start()
    wait_imap(despatch)
    c = Imap(imap_port(despatch))
    authed = session(despatch)  # logged in: not subject to it
    t0 = time.monotonic()
    data, eof = read_until_eof(c, timeout=14)
    took = time.monotonic() - t0
    assert b"* BYE" in data and eof, (data, took)
    assert 8 <= took <= 13, took
    authed.ok("NOOP")
    authed.close()
    c.close()


NETNS_CLIENT = r'''
import json, socket, ssl, sys
host, port, tls_port, user, pw = sys.argv[1:6]
out = {}
def rd(f):
    return f.readline().decode().rstrip("\r\n")
def cmd(f, s, tag, line):
    s.sendall(tag + b" " + line + b"\r\n")
    lines = []
    while True:
        l = rd(f)
        lines.append(l)
        if l.startswith(tag.decode() + " ") or not l:
            return lines
s = socket.create_connection((host, int(port)), timeout=20)
f = s.makefile("rb")
out["peer_local"] = s.getsockname()[0]
out["greeting"] = rd(f)
out["login"] = cmd(f, s, b"a1", b'LOGIN "%s" "%s"' % (user.encode(), pw.encode()))
out["auth"] = cmd(f, s, b"a2", b"AUTHENTICATE PLAIN AGFiYwBkZWY=")
out["starttls"] = cmd(f, s, b"a3", b"STARTTLS")
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(s)
f = t.makefile("rb")
out["caps_tls"] = cmd(f, t, b"a4", b"CAPABILITY")
out["login_tls"] = cmd(f, t, b"a5", b'LOGIN "%s" "%s"' % (user.encode(), pw.encode()))
t.close()
s = ctx.wrap_socket(socket.create_connection((host, int(tls_port)), timeout=20))
f = s.makefile("rb")
out["greeting_imaps"] = rd(f)
out["login_imaps"] = cmd(f, s, b"b1", b'LOGIN "%s" "%s"' % (user.encode(), pw.encode()))
s.close()
print(json.dumps(out))
'''


def test_logindisabled_from_non_loopback(despatch):
    # A server and a client in a network namespace of their own, where the
    # only address besides 127.0.0.1 is 192.0.2.2 on lo: the client's
    # address is not loopback, so LOGIN and AUTHENTICATE wait for TLS.
    if os.geteuid() != 0:
        pytest.skip("needs root (CAP_NET_ADMIN) for a network namespace")
    ip = shutil.which("ip")
    if ip is None:
        pytest.skip("iproute2 (ip) is not installed")
    ns = "despatch-" + uuid.uuid4().hex[:8]
    r = subprocess.run([ip, "netns", "add", ns], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {r.stderr!r}")
    proc = None
    log = None
    try:
        for args in (["link", "set", "lo", "up"],
                     ["addr", "add", "192.0.2.2/32", "dev", "lo"]):
            subprocess.run([ip, "netns", "exec", ns, ip, *args], check=True)
        conf = despatch.config_path()
        conf.write_text(conf.read_text().replace('address = "127.0.0.1"',
                                                 'address = "192.0.2.2"'))
        log = open(despatch.logdir / "netns-serve.log", "wb")
        proc = subprocess.Popen([ip, "netns", "exec", ns, despatch.bin,
                                 "serve", "--data", str(despatch.data)],
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, env=despatch.env())
        port, tls_port = 143 + despatch.offset, 993 + despatch.offset
        out = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            r = subprocess.run(
                [ip, "netns", "exec", ns, sys.executable, "-c", NETNS_CLIENT,
                 "192.0.2.2", str(port), str(tls_port), addr("alice"),
                 PASSWORD], capture_output=True, timeout=60)
            if r.returncode == 0:
                out = json.loads(r.stdout)
                break
            if b"Connection refused" not in r.stderr:
                raise AssertionError(r.stderr.decode()[-2000:])
            time.sleep(0.2)
        assert out is not None, "server in the namespace never answered"
        assert out["peer_local"] == "192.0.2.2", out
        assert "LOGINDISABLED" in out["greeting"], out
        assert "STARTTLS" in out["greeting"], out
        assert out["login"][-1].startswith("a1 NO [PRIVACYREQUIRED]"), out
        assert out["auth"][-1].startswith("a2 NO [PRIVACYREQUIRED]"), out
        assert out["starttls"][-1].startswith("a3 OK"), out
        caps = " ".join(out["caps_tls"])
        assert "LOGINDISABLED" not in caps and "AUTH=PLAIN" in caps, out
        assert out["login_tls"][-1].startswith("a5 OK"), out
        assert "LOGINDISABLED" not in out["greeting_imaps"], out
        assert out["login_imaps"][-1].startswith("b1 OK"), out
    finally:
        if proc is not None:
            proc.terminate()
            try:
                rc = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait(10)
            if log is not None:
                log.close()
            text = (despatch.logdir / "netns-serve.log").read_text(
                "utf-8", "replace")
            assert "ERROR: AddressSanitizer" not in text, text[-4000:]
            assert "runtime error:" not in text, text[-4000:]
            assert rc == 0, text[-2000:]
        subprocess.run([ip, "netns", "del", ns], capture_output=True)


def test_many_sessions_memory_bounded(imap_server):
    n = 200
    warm = [session(imap_server) for _ in range(4)]
    before = rss_kb(imap_server)
    conns, errors = [], []
    lock = threading.Lock()

    def worker(k):
        try:
            for _ in range(k):
                c = session(imap_server)
                c.select("INBOX")
                with lock:
                    conns.append(c)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(repr(e))

    t0 = time.monotonic()
    th = [threading.Thread(target=worker, args=(n // 8,)) for _ in range(8)]
    for t in th:
        t.start()
    for t in th:
        t.join(120)
    took = time.monotonic() - t0
    assert not errors, errors[:3]
    assert len(conns) == n
    after = rss_kb(imap_server)
    print(f"RSS before {before} KiB, after {n} sessions {after} KiB "
          f"({(after - before) / n:.1f} KiB/session, {took:.1f} s)")
    assert after - before < 200 * 1024, (before, after)
    # every one of them still answers
    for c in conns[::20]:
        c.ok("NOOP")
    for c in conns + warm:
        c.close()
    still_serving(imap_server)


def test_client_never_reads_fetch_output(imap_server):
    big = b"".join(b"%07d " % i + b"y" * 70 + b"\r\n" for i in range(13000))
    deliver(imap_server, "alice", [simple_msg(i, body=big) for i in range(4)])
    c = session(imap_server)
    c.select("INBOX")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    before = rss_kb(imap_server)
    # ~250 GB of answers asked for, none read
    burst = b"".join(b"F%d FETCH 1:4 BODY.PEEK[]\r\n" % i for i in range(60000))
    c.sock.settimeout(5)
    sent = 0
    try:
        while sent < len(burst):
            sent += c.sock.send(burst[sent:])
    except socket.timeout:
        pass  # the server stopped reading: what we want
    time.sleep(3)
    after = rss_kb(imap_server)
    print(f"RSS before {before} KiB, with a stalled reader {after} KiB, "
          f"{sent} of {len(burst)} command bytes taken")
    assert after - before < 100 * 1024, (before, after)
    still_serving(imap_server)
    c.close()
    time.sleep(0.5)
    still_serving(imap_server)


def test_disconnect_inside_append_literal(imap_server):
    c = session(imap_server)
    t = c.tag()
    size = 2 * 1024 * 1024
    c.send(f"{t} APPEND INBOX {{{size}}}\r\n")
    assert c.read_resp().raw.startswith(b"+")
    c.send(simple_msg(1, body=os.urandom(size // 2).hex()[:size // 2]
                      .encode())[:size // 2])
    time.sleep(0.3)
    c.close()
    # a second one disconnects between two MULTIAPPEND literals
    c = session(imap_server)
    m = simple_msg(2)
    c.send(f"T1 APPEND INBOX {{{len(m)}+}}\r\n".encode() + m + b" {100+}\r\n"
           + b"z" * 10)
    time.sleep(0.3)
    c.close()
    d = session(imap_server)
    r = d.select("INBOX")
    assert [int(x.tokens[1]) for x in r.of("EXISTS")] == [0], r
    assert wait_no_stage_files(imap_server) == []
    d.ok("LOGOUT")
    d.close()


def test_password_guessing(imap_server):
    # auth/throttle.c: each failure from an address (or for a user) delays
    # the answer 1 s, 2 s, 4 s, ... up to 15 s; after 10 the address and
    # the user are banned for 5 minutes: even the right password gets the
    # same failure, unverified.
    user = addr("alice")
    results = {}

    def guess(k):
        c = Imap(imap_port(imap_server), timeout=40)
        t0 = time.monotonic()
        r = c.cmd("LOGIN", quote(user), quote(f"wrong-{k}"), timeout=40)
        results[k] = (time.monotonic() - t0, r.status, r.text)
        c.close()

    th = [threading.Thread(target=guess, args=(k,)) for k in range(10)]
    for t in th:
        t.start()
    # once a few answers came back, every failure has been counted
    deadline = time.monotonic() + 30
    while len(results) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    right = {}

    def good(local, key):
        c = Imap(imap_port(imap_server), timeout=40)
        t0 = time.monotonic()
        r = c.cmd("LOGIN", quote(addr(local)), quote(PASSWORD), timeout=40)
        right[key] = (time.monotonic() - t0, r.status, r.text)
        c.close()

    th2 = [threading.Thread(target=good, args=("alice", "alice")),
           threading.Thread(target=good, args=("bob", "bob"))]
    for t in th2:
        t.start()
    for t in th + th2:
        t.join(60)
    assert len(results) == 10, results
    times = sorted(v[0] for v in results.values())
    print("failure answer times:", [round(x, 1) for x in times])
    assert all(v[1] == "NO" and "[AUTHENTICATIONFAILED]" in v[2]
               for v in results.values()), results
    # growing delay: 1, 2, 4, 8, then 15 s at most
    for i, floor in enumerate((0.9, 1.9, 3.9, 7.9)):
        assert times[i] >= floor, times
    assert times[-1] < 25, times
    # banned: the right password gets the very same answer
    fail_text = next(iter(results.values()))[2]
    for key in ("alice", "bob"):
        assert right[key][1] == "NO" and right[key][2] == fail_text, right


def test_hangups_at_awkward_moments(imap_server):
    # A client that goes away in the middle of a streamed FETCH, while its
    # password is being verified, during the failure delay, or with an
    # over-long AUTHENTICATE line: the server frees the session in its own
    # time (ASan watches) and goes on serving.
    big = b"".join(b"%07d " % i + b"y" * 70 + b"\r\n" for i in range(13000))
    deliver(imap_server, "alice", [simple_msg(i, body=big) for i in range(3)])
    for _ in range(3):
        c = session(imap_server)
        c.select("INBOX")
        c.send(b"F1 FETCH 1:3 BODY.PEEK[]\r\nF2 FETCH 1:3 BODY.PEEK[]\r\n")
        c.sock.recv(1000)
        # RST instead of FIN: the server's pending writes fail
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
    c = Imap(imap_port(imap_server))
    c.send(b"A1 AUTHENTICATE PLAIN\r\n")
    assert c.read_resp().raw.startswith(b"+")
    c.send(b"x" * 20000)
    data, eof = read_until_eof(c)
    assert b"* BYE" in data and eof, data
    c.close()
    for pw, wait in ((PASSWORD, 0.01), ("wrong", 0.5)):
        c = Imap(imap_port(imap_server))
        c.send(f"L1 LOGIN {quote(addr('bob'))} {quote(pw)}\r\n".encode())
        time.sleep(wait)
        c.close()
    time.sleep(1.5)  # the failure delay (1 s) runs out with nobody there
    still_serving(imap_server)


def test_recent_after_mailbox_recreated(imap_server):
    """A mailbox deleted and created again may get the old row id back; its
    new messages are still \\Recent to the first IMAP4rev1 session that
    selects it (the in-memory high-water mark is per UIDVALIDITY)."""
    from imap_util import append
    c = session(imap_server)
    for _ in range(2):
        c.ok("CREATE Again")
        append(c, "Again", simple_msg(1))
        r = c.ok("SELECT Again")
        recent = [x for x in r.untagged if x.raw.endswith(b" RECENT")]
        assert recent and recent[0].raw == b"* 1 RECENT", r
        c.ok("UNSELECT")
        c.ok("DELETE Again")
    c.ok("LOGOUT")
