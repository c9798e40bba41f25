# SPDX-License-Identifier: MIT
"""IMAP FETCH of every item on a multipart message with an attachment and on
mail delivered by SMTP: BODY[] byte-exact, BODYSTRUCTURE/BODY, ENVELOPE,
sections (part numbers, MIME, HEADER, HEADER.FIELDS(.NOT), TEXT), partial
fetches, BINARY/BINARY.SIZE, PREVIEW, the macros, \\Seen and PEEK."""
import base64
import datetime
import random

from conftest import strip_trace
from imap_util import (append, appenduid, deliver, s, session, simple_msg)

DATE = "01-Feb-2026 10:00:00 +0000"


def wrap(b64, width=76):
    return b"\r\n".join(b64[i:i + width]
                        for i in range(0, len(b64), width)) + b"\r\n"


def multipart(data, boundary="=_bnd_42"):
    text = "Line one of the text.\r\nLine two.\r\nLine three.\r\n"
    hdr = ("From: \"Sam Sender\" <sam@example.org>\r\n"
           "To: Alice <alice@example.test>, bob@example.test\r\n"
           "Cc: <carol@example.test>\r\n"
           "Subject: Quarterly report\r\n"
           "Message-ID: <mp-1@example.org>\r\n"
           "In-Reply-To: <earlier@example.org>\r\n"
           "Date: Thu, 01 Jan 2026 09:30:00 +0100\r\n"
           "MIME-Version: 1.0\r\n"
           f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n"
           "\r\n")
    body = ("This is a multi-part message in MIME format.\r\n"
            f"--{boundary}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 7bit\r\n"
            "\r\n"
            f"{text}"
            f"--{boundary}\r\n"
            "Content-Type: application/pdf; name=\"report.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
            "\r\n").encode()
    att = wrap(base64.b64encode(data))
    msg = hdr.encode() + body + att + f"--{boundary}--\r\n".encode()
    return msg, text.encode(), att


def pdf(size, seed=7):
    head = b"%PDF-1.4\n\x00\x01\xff"
    return head + random.Random(seed).randbytes(size - len(head))


def sections(msg):
    """The expected bytes of each section of multipart()'s message."""
    he = msg.index(b"\r\n\r\n") + 4
    b = b"--=_bnd_42"
    p1 = msg.index(b + b"\r\n") + len(b) + 2
    p1_end = msg.index(b"\r\n" + b, p1)
    p2 = p1_end + 2 + len(b) + 2
    p2_end = msg.index(b"\r\n" + b + b"--", p2)
    m1 = msg.index(b"\r\n\r\n", p1) + 4
    m2 = msg.index(b"\r\n\r\n", p2) + 4
    return {
        "HEADER": msg[:he], "TEXT": msg[he:],
        "1.MIME": msg[p1:m1], "1": msg[m1:p1_end],
        "2.MIME": msg[p2:m2], "2": msg[m2:p2_end],
    }


def get(f, prefix):
    """The value of the one FETCH item whose name starts with prefix."""
    keys = [k for k in f if k.startswith(prefix.upper())]
    assert len(keys) == 1, (prefix, list(f))
    return f[keys[0]]


def lc(x):
    return s(x).lower() if x is not None else None


def one(c, cmd):
    r = c.ok(cmd)
    f = r.fetches()
    assert len(f) == 1, r
    return next(iter(f.values()))


def setup_multipart(server, rev2, size=30000):
    data = pdf(size)
    msg, text, att = multipart(data)
    c = session(server, rev2=rev2)
    r = append(c, "INBOX", msg, flags=["$Report"], date=DATE)
    _, uid = appenduid(r)
    c.select("INBOX")
    return c, int(uid), msg, data, att


def test_body_exact_and_sections(imap_server, rev2):
    c, uid, msg, data, att = setup_multipart(imap_server, rev2)
    sec = sections(msg)
    f = one(c, f"UID FETCH {uid} (BODY.PEEK[] RFC822.SIZE UID)")
    assert int(f["UID"]) == uid
    assert get(f, "BODY[]") == msg
    assert int(f["RFC822.SIZE"]) == len(msg)
    for name, want in sec.items():
        f = one(c, f"UID FETCH {uid} BODY.PEEK[{name}]")
        assert get(f, f"BODY[{name}]") == want, name
    f = one(c, f"UID FETCH {uid} BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]")
    assert get(f, "BODY[HEADER.FIELDS") == (
        b"From: \"Sam Sender\" <sam@example.org>\r\n"
        b"Subject: Quarterly report\r\n\r\n")
    f = one(c, f"UID FETCH {uid} BODY.PEEK[HEADER.FIELDS.NOT (Subject "
               "From To Cc Date Message-ID In-Reply-To)]")
    assert get(f, "BODY[HEADER.FIELDS.NOT") == (
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"=_bnd_42\"\r\n\r\n")
    # Missing header fields give just the blank line.
    f = one(c, f"UID FETCH {uid} BODY.PEEK[HEADER.FIELDS (X-None)]")
    assert get(f, "BODY[HEADER.FIELDS") == b"\r\n"
    # Partial fetches: the origin is echoed, the data cut.
    f = one(c, f"UID FETCH {uid} BODY.PEEK[]<0.10>")
    assert f["BODY[]<0>"] == msg[:10]
    f = one(c, f"UID FETCH {uid} BODY.PEEK[TEXT]<5.20>")
    assert f["BODY[TEXT]<5>"] == sec["TEXT"][5:25]
    f = one(c, f"UID FETCH {uid} BODY.PEEK[2]<{len(sec['2']) - 5}.100>")
    assert get(f, "BODY[2]<") == sec["2"][-5:]
    f = one(c, f"UID FETCH {uid} BODY.PEEK[]<{len(msg) + 10}.5>")
    assert not get(f, "BODY[]<")
    # A part past the end is empty (or NIL), not an error.
    r = c.cmd(f"UID FETCH {uid} BODY.PEEK[7]")
    assert r.status in ("OK", "NO"), r
    c.close()


def test_binary(imap_server, rev2):
    c, uid, msg, data, att = setup_multipart(imap_server, rev2)
    f = one(c, f"UID FETCH {uid} (BINARY.PEEK[2] BINARY.SIZE[2])")
    assert f["BINARY[2]"] == data
    assert int(f["BINARY.SIZE[2]"]) == len(data)
    f = one(c, f"UID FETCH {uid} (BINARY.PEEK[1] BINARY.SIZE[1])")
    text = sections(msg)["1"]
    assert f["BINARY[1]"] == text
    assert int(f["BINARY.SIZE[1]"]) == len(text)
    f = one(c, f"UID FETCH {uid} BINARY.PEEK[2]<4.10>")
    assert f["BINARY[2]<4>"] == data[4:14]
    c.close()


def check_bodystructure(bs, msg, att, extended):
    sec = sections(msg)
    assert isinstance(bs, list) and len(bs) >= 3, bs
    text, app = bs[0], bs[1]
    assert lc(bs[2]) == "mixed", bs
    assert lc(text[0]) == "text" and lc(text[1]) == "plain", text
    params = [lc(x) for x in text[2]]
    assert params[:2] == ["charset", "utf-8"], text
    assert lc(text[5]) == "7bit", text
    assert int(text[6]) == len(sec["1"]), (text, len(sec["1"]))
    assert int(text[7]) in (2, 3), text  # lines
    assert lc(app[0]) == "application" and lc(app[1]) == "pdf", app
    assert [lc(x) for x in app[2]] == ["name", "report.pdf"], app
    assert lc(app[5]) == "base64", app
    assert int(app[6]) == len(sec["2"]) == len(att) - 2, app
    if extended:
        assert [lc(x) for x in bs[3][:2]] == ["boundary", "=_bnd_42"], bs
        dsp = app[8]
        assert lc(dsp[0]) == "attachment", app
        assert [lc(x) for x in dsp[1]] == ["filename", "report.pdf"], app
    else:
        assert len(text) == 8 and len(app) == 7, bs


def test_bodystructure_and_body(imap_server, rev2):
    c, uid, msg, data, att = setup_multipart(imap_server, rev2)
    f = one(c, f"UID FETCH {uid} (BODYSTRUCTURE BODY)")
    check_bodystructure(f["BODYSTRUCTURE"], msg, att, extended=True)
    check_bodystructure(f["BODY"], msg, att, extended=False)
    c.close()


def test_envelope(imap_server, rev2):
    c, uid, msg, data, att = setup_multipart(imap_server, rev2)
    env = one(c, f"UID FETCH {uid} ENVELOPE")["ENVELOPE"]
    assert len(env) == 10, env
    date, subject, frm, sender, reply_to, to, cc, bcc, irt, mid = env
    assert s(date) == "Thu, 01 Jan 2026 09:30:00 +0100"
    assert s(subject) == "Quarterly report"
    sam = [["Sam Sender", None, "sam", "example.org"]]
    norm = [[s(x) for x in a] for a in frm]
    assert norm == sam, frm
    # Sender and Reply-To default to From.
    assert [[s(x) for x in a] for a in sender] == sam, sender
    assert [[s(x) for x in a] for a in reply_to] == sam, reply_to
    assert [[s(x) for x in a] for a in to] == [
        ["Alice", None, "alice", "example.test"],
        [None, None, "bob", "example.test"]], to
    assert [[s(x) for x in a] for a in cc] == [
        [None, None, "carol", "example.test"]], cc
    assert bcc is None
    assert s(irt) == "<earlier@example.org>"
    assert s(mid) == "<mp-1@example.org>"
    c.close()


def test_flags_internaldate_macros_preview(imap_server, rev2):
    c, uid, msg, data, att = setup_multipart(imap_server, rev2)
    f = one(c, f"UID FETCH {uid} (FLAGS INTERNALDATE)")
    flags = {str(x) for x in f["FLAGS"]} - {"\\Recent"}
    assert flags == {"$Report"}, f
    got = datetime.datetime.strptime(s(f["INTERNALDATE"]).strip(),
                                     "%d-%b-%Y %H:%M:%S %z")
    want = datetime.datetime.strptime(DATE, "%d-%b-%Y %H:%M:%S %z")
    assert got == want, f
    f = one(c, f"UID FETCH {uid} FAST")
    assert {"FLAGS", "INTERNALDATE", "RFC822.SIZE"} <= set(f), f
    f = one(c, f"UID FETCH {uid} ALL")
    assert {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"} <= set(f), f
    f = one(c, f"UID FETCH {uid} FULL")
    assert {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE",
            "BODY"} <= set(f), f
    f = one(c, f"UID FETCH {uid} PREVIEW")
    pv = s(f["PREVIEW"])
    assert pv.startswith("Line one of the text."), pv
    assert len(pv) <= 256 and "\r" not in pv, pv
    c.close()


def test_rfc822_items_rev1(imap_server):
    c, uid, msg, data, att = setup_multipart(imap_server, False)
    sec = sections(msg)
    f = one(c, f"UID FETCH {uid} (RFC822.HEADER RFC822.TEXT)")
    assert f["RFC822.HEADER"] == sec["HEADER"]
    assert f["RFC822.TEXT"] == sec["TEXT"]
    f = one(c, f"UID FETCH {uid} RFC822")
    assert f["RFC822"] == msg
    # RFC822 (like BODY[]) sets \Seen.
    f = one(c, f"UID FETCH {uid} FLAGS")
    assert "\\Seen" in [str(x) for x in f["FLAGS"]], f
    c.close()


def test_seen_set_by_body_not_by_peek(imap_server, rev2):
    deliver(imap_server, "alice", [simple_msg(1), simple_msg(2)])
    c = session(imap_server, rev2=rev2)
    c.select("INBOX")
    c.ok("FETCH 1 BODY.PEEK[]")
    c.ok("FETCH 2 BINARY.PEEK[1]")
    f = c.ok("FETCH 1:2 FLAGS").fetches()
    assert all("\\Seen" not in [str(x) for x in f[i]["FLAGS"]]
               for i in (1, 2)), f
    r = c.ok("FETCH 1 BODY[TEXT]")
    f = c.ok("FETCH 1:2 FLAGS").fetches()
    assert "\\Seen" in [str(x) for x in f[1]["FLAGS"]], f
    assert "\\Seen" not in [str(x) for x in f[2]["FLAGS"]], f
    c.close()


def test_smtp_delivered_body_exact(imap_server, rev2):
    msgs = [simple_msg(1), multipart(pdf(5000, seed=3))[0]]
    deliver(imap_server, "alice", msgs)
    uids = imap_server.uids("alice")
    c = session(imap_server, rev2=rev2)
    c.select("INBOX")
    r = c.ok("UID FETCH 1:* (UID BODY.PEEK[] RFC822.SIZE)")
    got = {int(f["UID"]): f for f in r.fetches().values()}
    assert sorted(got) == uids, (sorted(got), uids)
    for uid, sent in zip(uids, msgs):
        stored = imap_server.cat("alice", uid)
        body = get(got[uid], "BODY[]")
        assert body == stored, uid
        assert strip_trace(body)[2] == sent, uid
        assert int(got[uid]["RFC822.SIZE"]) == len(stored)
    c.close()


def test_large_body_streams(imap_server):
    data = pdf(3 * 1024 * 1024, seed=11)
    msg, text, att = multipart(data)
    c = session(imap_server)
    _, uid = appenduid(append(c, "INBOX", msg))
    c.select("INBOX")
    f = one(c, f"UID FETCH {uid} (BODY.PEEK[] BINARY.PEEK[2])")
    assert get(f, "BODY[]") == msg
    assert f["BINARY[2]"] == data
    f = one(c, f"UID FETCH {uid} BODY.PEEK[]<2000000.1000>")
    assert f["BODY[]<2000000>"] == msg[2000000:2001000]
    c.close()


def test_fetch_errors(imap_server, rev2):
    deliver(imap_server, "alice", [simple_msg(1)])
    c = session(imap_server, rev2=rev2)
    c.select("INBOX")
    assert c.cmd("FETCH 5 FLAGS").status in ("BAD", "NO")  # past the end
    r = c.ok("UID FETCH 99 FLAGS")  # UIDs past the end: nothing, no error
    assert not r.of("FETCH"), r
    assert c.cmd("FETCH 1 (FLAGS BOGUS)").status == "BAD"
    assert c.cmd("FETCH 1 BODY[1.HEADER.FOO]").status == "BAD"
    assert c.cmd("FETCH 0 FLAGS").status == "BAD"
    c.close()
