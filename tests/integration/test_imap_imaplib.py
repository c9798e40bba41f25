# SPDX-License-Identifier: MIT
"""A plain Python imaplib client session, as a script would use it, in both
grammars (rev2: after ENABLE IMAP4rev2, whose SEARCH answers ESEARCH)."""
import imaplib

from conftest import strip_trace
from imap_util import deliver, expand, imaplib_login, simple_msg


def ok(res):
    typ, data = res
    assert typ == "OK", data
    return data


def search(c, rev2, *criteria):
    typ, data = c.uid("SEARCH", *criteria)
    assert typ == "OK", data
    if not rev2:
        return [int(x) for x in data[0].split()]
    typ, es = c.response("ESEARCH")
    toks = es[0].decode().split() if es and es[0] else []
    up = [t.upper() for t in toks]
    return expand(toks[up.index("ALL") + 1]) if "ALL" in up else []


def run_session(server, rev2, **login):
    msgs = [simple_msg(i, subject=f"imaplib {i}") for i in range(3)]
    deliver(server, "alice", msgs)
    c = imaplib_login(server, **login)
    if rev2:
        typ, data = c._simple_command("ENABLE", "IMAP4rev2")
        assert typ == "OK", data
        assert b"IMAP4REV2" in (c.response("ENABLED")[1][0] or b"").upper()
    names = ok(c.list())
    assert any(n.endswith(b' "Sent"') or n.endswith(b" Sent") for n in names)
    assert ok(c.select("INBOX")) == [b"3"]
    assert search(c, rev2, "ALL") == [1, 2, 3]
    assert search(c, rev2, "SUBJECT", '"imaplib 1"') == [2]
    data = ok(c.uid("FETCH", "2", "(BODY.PEEK[] FLAGS)"))
    assert strip_trace(data[0][1])[2] == msgs[1]
    ok(c.uid("STORE", "2", "+FLAGS", "(\\Flagged)"))
    assert search(c, rev2, "FLAGGED") == [2]
    data = ok(c.append("Drafts", "(\\Draft)", None,
                       simple_msg(9, subject="draft")))
    ok(c.uid("COPY", "1:2", "Archive"))
    assert ok(c.status("Archive", "(MESSAGES)"))[0].endswith(
        b"(MESSAGES 2)")
    ok(c.uid("STORE", "1", "+FLAGS", "(\\Deleted)"))
    ok(c.expunge())
    assert search(c, rev2, "ALL") == [2, 3]
    ok(c.create("Work/2026"))
    ok(c.rename("Work", "Job"))
    names = b"\n".join(ok(c.list('""', "Job*")))
    assert b"Job/2026" in names, names
    ok(c.delete("Job/2026"))
    ok(c.close())
    c.logout()


def test_imaplib_session_plain(imap_server, rev2):
    run_session(imap_server, rev2)


def test_imaplib_session_starttls(imap_server):
    run_session(imap_server, False, starttls=True)


def test_imaplib_session_imaps(imap_server):
    run_session(imap_server, True, ssl_=True)
