# SPDX-License-Identifier: MIT
"""IMAP bad input and transport: BAD for syntax errors and BYE after too
many, literals over the limit (tighter before login), deep parenthesis
nesting, over-long lines; COMPRESS=DEFLATE. Every wait is bounded, and the
server must still serve new sessions afterwards."""
import socket
import time
import zlib

from imap_util import (Imap, deliver, imap_port, session, simple_msg)


def still_serving(server):
    c = session(server)
    c.ok("SELECT INBOX")
    c.close()


def closed_soon(c, timeout=5):
    """True if the server closes the connection within timeout (anything
    it sends first is read and dropped)."""
    deadline = time.monotonic() + timeout
    c.sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            data = c.sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return True
        if not data:
            return True
    return False


def refused(c, tag, timeout=10):
    """Reads until the tagged reply of tag, a BYE, or EOF; returns the
    responses (raw bytes). Fails on a continuation request."""
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.read_resp(timeout=deadline - time.monotonic())
        if r is None:
            out.append(b"<EOF>")
            return out
        assert not r.raw.startswith(b"+"), f"continuation after {out}"
        out.append(r.raw)
        if r.raw.startswith(tag.encode() + b" ") or r.raw.startswith(
                b"* BYE"):
            return out
    raise AssertionError(f"no answer within {timeout}s: {out}")


def test_bad_syntax(imap_server, rev2):
    c = Imap(imap_port(imap_server))
    assert c.cmd("LOGIN").status == "BAD"
    assert c.cmd("FROBNICATE").status == "BAD"
    c.login("alice")
    if rev2:
        c.enable_rev2()
    assert c.cmd("SELECT").status == "BAD"
    assert c.cmd('SELECT "unterminated').status == "BAD"
    c.select("INBOX")
    for bad in ("FETCH", "FETCH 1", "FETCH x FLAGS", "STORE 1 FLAGS",
                "SEARCH (", "UID FROB 1", "FETCH 1 (FLAGS", "COPY 1"):
        r = c.cmd(bad)
        assert r.status == "BAD", (bad, r)
    c.ok("NOOP")  # the session goes on
    c.close()


def test_bye_after_too_many_bad_commands_preauth(imap_server):
    c = Imap(imap_port(imap_server))
    for i in range(1, 12):
        t = c.tag()
        c.send(f"{t} FROBNICATE\r\n")
        out = refused(c, t)
        if out[-1].startswith(b"* BYE") or out[-1] == b"<EOF>":
            assert 3 <= i <= 11, f"closed after {i} bad commands: {out}"
            assert closed_soon(c)
            break
    else:
        raise AssertionError("11 bad commands before login and no BYE")
    c.close()
    still_serving(imap_server)


def test_bye_after_too_many_bad_commands(imap_server):
    c = session(imap_server)
    for i in range(1, 23):
        t = c.tag()
        c.send(f"{t} FROBNICATE\r\n")
        out = refused(c, t)
        if out[-1].startswith(b"* BYE") or out[-1] == b"<EOF>":
            assert 10 <= i <= 21, f"closed after {i} bad commands: {out}"
            assert any(x.startswith(b"* BYE") for x in out), out
            assert closed_soon(c)
            break
    else:
        raise AssertionError("22 bad commands after login and no BYE")
    c.close()
    still_serving(imap_server)


def test_literal_over_limit_before_login(imap_server):
    c = Imap(imap_port(imap_server))
    t = c.tag()
    c.send(f'{t} LOGIN {{100000}}\r\n')
    out = refused(c, t)
    assert out[-1] == b"<EOF>" or b" BAD" in out[-1] or b" NO" in out[-1] \
        or out[-1].startswith(b"* BYE"), out
    c.close()
    # A non-synchronizing literal over 4096 before login (LITERAL-).
    c = Imap(imap_port(imap_server))
    t = c.tag()
    c.send(f'{t} LOGIN "alice@example.test" {{5000+}}\r\n' + "x" * 5000
           + "\r\n")
    out = refused(c, t)
    assert not any(x.startswith(t.encode() + b" OK") for x in out), out
    c.close()
    still_serving(imap_server)


def test_literal_over_limit_after_login(imap_server):
    c = session(imap_server)
    c.select("INBOX")
    t = c.tag()
    c.send(f"{t} SEARCH BODY {{10000000}}\r\n")
    out = refused(c, t)
    assert out[-1] == b"<EOF>" or out[-1].startswith(b"* BYE") or \
        out[-1].startswith(t.encode() + b" BAD") or \
        out[-1].startswith(t.encode() + b" NO"), out
    c.close()
    still_serving(imap_server)


def test_deep_nesting_rejected(imap_server):
    c = session(imap_server)
    c.select("INBOX")
    deep = "(" * 500 + "ALL" + ")" * 500
    r = c.cmd("SEARCH " + deep)
    assert r.status in ("BAD", None), r
    if r.status is not None:
        c.ok("NOOP")
    # A modest nest is fine.
    c2 = session(imap_server)
    c2.select("INBOX")
    c2.ok("SEARCH " + "(" * 10 + "ALL" + ")" * 10)
    c.close()
    c2.close()
    # Before login the limit is tighter.
    c = Imap(imap_port(imap_server))
    t = c.tag()
    c.send(f'{t} ID ' + "(" * 50 + '"a" "b"' + ")" * 50 + "\r\n")
    out = refused(c, t)
    assert not any(x.startswith(t.encode() + b" OK") for x in out), out
    c.close()
    still_serving(imap_server)


def test_long_lines_rejected(imap_server):
    # Before login: 8 KiB; after: 64 KiB. Over it: BAD (or BYE), never a
    # hang and never an OK.
    for pre, n in ((True, 9000), (False, 70000)):
        c = Imap(imap_port(imap_server)) if pre else session(imap_server)
        t = c.tag()
        c.send(f"{t} NOOP " + "x" * n + "\r\n")
        out = refused(c, t, timeout=15)
        assert not any(x.startswith(t.encode() + b" OK") for x in out), out
        c.close()
    # A long but legal line after login (a long UID set) is fine.
    c = session(imap_server)
    c.select("INBOX")
    uids = ",".join(str(i) for i in range(1, 20000, 2))
    assert 40000 < len(uids) < 60000
    c.ok(f"UID FETCH {uids} FLAGS")
    c.close()
    still_serving(imap_server)


def test_unbounded_input_does_not_hang(imap_server):
    # Half a command, then silence: the server keeps waiting (pre-auth
    # autologout is 60 s); other sessions are served meanwhile.
    c = Imap(imap_port(imap_server))
    c.send("T1 LOGIN {10}\r\n")
    r = c.read_resp()
    assert r.raw.startswith(b"+"), r
    c.send("abc")
    still_serving(imap_server)
    c.close()


def test_compress_deflate(imap_server, rev2):
    deliver(imap_server, "alice", [simple_msg(i, body="compressible " * 500
                                              + "\r\n") for i in range(3)])
    c = session(imap_server, rev2=rev2)
    c.compress()
    r = c.select("INBOX")
    assert [int(u.tokens[1]) for u in r.of("EXISTS")] == [3], r
    f = c.ok("FETCH 1:3 (UID BODY.PEEK[TEXT])").fetches()
    assert all(f[i]["BODY[TEXT]"] == b"compressible " * 500 + b"\r\n"
               for i in (1, 2, 3)), f
    c.ok("STORE 1 +FLAGS (\\Flagged)")
    r = c.ok("SEARCH FLAGGED")
    # A second COMPRESS is refused with [COMPRESSIONACTIVE].
    r = c.cmd("COMPRESS DEFLATE")
    assert r.status == "NO" and r.code("COMPRESSIONACTIVE") is not None, r
    r = c.cmd("LOGOUT")
    assert r.status == "OK" and r.of("BYE"), r
    c.close()


def test_compress_raw_stream(imap_server):
    # The same by hand: after the tagged OK both directions are a raw
    # DEFLATE stream (RFC 4978: no zlib header), flushed per command.
    c = session(imap_server)
    t = c.tag()
    c.send(f"{t} COMPRESS DEFLATE\r\n")
    r = c.read_tagged(t)
    assert r.status == "OK", r
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    dec = zlib.decompressobj(-15)
    c.sock.sendall(comp.compress(b"Z1 NOOP\r\nZ2 SELECT INBOX\r\n")
                   + comp.flush(zlib.Z_SYNC_FLUSH))
    got = dec.decompress(c.buf)
    c.buf = b""
    deadline = time.monotonic() + 10
    while b"Z2 OK" not in got and time.monotonic() < deadline:
        data = c.sock.recv(65536)
        if not data:
            break
        got += dec.decompress(data)
    assert b"Z1 OK" in got and b"Z2 OK" in got, got
    c.close()
