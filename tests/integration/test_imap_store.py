# SPDX-License-Identifier: MIT
"""IMAP changes: APPEND (flags, date, APPENDUID, TRYCREATE, TOOBIG via
APPENDLIMIT, MULTIAPPEND), STORE (+FLAGS -FLAGS FLAGS .SILENT, keywords,
UNCHANGEDSINCE -> MODIFIED), COPY/MOVE with COPYUID, EXPUNGE/UID EXPUNGE."""
import re

from conftest import wait_imap
from imap_util import (Literal, append, appenduid, deliver, expand, s,
                       session, simple_msg)


def flags(f):
    return {str(x) for x in f["FLAGS"]} - {"\\Recent"}


def uids_now(c):
    r = c.ok("UID SEARCH ALL")
    out = []
    for u in r.untagged:
        t = u.tokens
        if u.kind() == "SEARCH":
            out += [int(x) for x in t[2:]]
        elif u.kind() == "ESEARCH":
            for i, x in enumerate(t):
                if str(x).upper() == "ALL":
                    out += expand(str(t[i + 1]))
    return sorted(out)


def apply_expunges(seq_uids, result):
    """Applies the result's EXPUNGE responses to a list of UIDs in sequence
    order (or VANISHED ones by UID); returns the new list."""
    out = list(seq_uids)
    for u in result.untagged:
        if u.kind() == "EXPUNGE":
            n = int(u.tokens[1])
            assert 1 <= n <= len(out), (n, out, result)
            del out[n - 1]
        elif u.kind() == "VANISHED":
            gone = set(expand(str(u.tokens[-1])))
            out = [x for x in out if x not in gone]
    return out


def setup_five(server, rev2):
    deliver(server, "alice", [simple_msg(i) for i in range(5)])
    c = session(server, rev2=rev2)
    c.select("INBOX")
    return c


# --- APPEND ----------------------------------------------------------------
def test_append_flags_date_appenduid(imap_server, rev2):
    c = session(imap_server, rev2=rev2)
    msg = simple_msg(1, body="Appended.\r\n")
    r = append(c, "Drafts", msg, flags=["\\Draft", "\\Seen", "$Todo"],
               date="05-Mar-2026 08:09:10 +0200")
    v, uid = appenduid(r)
    r = c.ok("STATUS Drafts (UIDVALIDITY UIDNEXT MESSAGES)")
    st = r.of("STATUS")[0].tokens[3]
    st = {str(st[i]).upper(): int(st[i + 1]) for i in range(0, len(st), 2)}
    assert st["UIDVALIDITY"] == v and st["UIDNEXT"] == int(uid) + 1, st
    assert st["MESSAGES"] == 1
    c.ok("EXAMINE Drafts")
    f = c.ok(f"UID FETCH {uid} (FLAGS INTERNALDATE BODY.PEEK[])").fetches()
    f = next(iter(f.values()))
    assert flags(f) == {"\\Draft", "\\Seen", "$Todo"}, f
    assert re.sub(r"^ ", "", s(f["INTERNALDATE"])) in (
        "05-Mar-2026 08:09:10 +0200", "05-Mar-2026 06:09:10 +0000"), f
    assert f["BODY[]"] == msg
    # Appending to the selected mailbox announces the new message.
    c.select("Drafts")
    r = append(c, "Drafts", simple_msg(2))
    if not r.of("EXISTS"):
        r = c.ok("NOOP")
    assert [int(u.tokens[1]) for u in r.of("EXISTS")] == [2], r
    c.close()


def test_append_missing_mailbox_trycreate(imap_server, rev2):
    c = session(imap_server, rev2=rev2)
    r = c.cmd("APPEND Nowhere", Literal(simple_msg(1)))
    assert r.status == "NO" and r.code("TRYCREATE") is not None, r
    c.close()


def test_multiappend(imap_server, rev2):
    c = session(imap_server, rev2=rev2)
    msgs = [simple_msg(i, body=f"multi {i}\r\n") for i in range(3)]
    r = c.ok("APPEND INBOX (\\Flagged)", Literal(msgs[0]), Literal(msgs[1]),
             "(\\Seen) \" 1-Jan-2026 00:00:00 +0000\"", Literal(msgs[2]))
    v, uids = appenduid(r)
    uids = expand(uids)
    assert len(uids) == 3 and uids == sorted(uids), uids
    c.select("INBOX")
    f = c.ok(f"UID FETCH {uids[0]}:{uids[-1]} (UID FLAGS BODY.PEEK[])"
             ).fetches()
    by_uid = {int(x["UID"]): x for x in f.values()}
    for u, m in zip(uids, msgs):
        assert by_uid[u]["BODY[]"] == m
    assert flags(by_uid[uids[0]]) == {"\\Flagged"}
    assert flags(by_uid[uids[1]]) == set()
    assert flags(by_uid[uids[2]]) == {"\\Seen"}
    c.close()


def test_append_literal_plus(imap_server):
    c = session(imap_server)
    msg = simple_msg(1)
    r = c.ok("APPEND INBOX", Literal(msg, plus=True))
    appenduid(r)
    c.close()


def test_append_toobig(despatch):
    assert despatch.set_smtp_limit("max_message_size", 20000)
    despatch.start()
    wait_imap(despatch)
    c = session(despatch)
    r = c.ok("CAPABILITY")
    caps = [str(t).upper() for u in r.of("CAPABILITY") for t in u.tokens]
    assert "APPENDLIMIT=20000" in caps, caps
    big = simple_msg(1, body="z" * 30000 + "\r\n")
    # A synchronizing literal over the limit is refused before the data.
    t = c.tag()
    c.send(f"{t} APPEND INBOX {{{len(big)}}}\r\n")
    r = c.read_resp()
    assert not r.raw.startswith(b"+"), r
    assert r.raw.startswith(t.encode() + b" NO"), r
    assert b"[TOOBIG]" in r.raw, r
    # The session goes on; a message under the limit is taken.
    appenduid(append(c, "INBOX", simple_msg(2)))
    c.close()


# --- STORE -----------------------------------------------------------------
def test_store_flags(imap_server, rev2):
    c = setup_five(imap_server, rev2)
    r = c.ok("STORE 1 +FLAGS (\\Flagged $Work)")
    assert flags(r.fetches()[1]) == {"\\Flagged", "$Work"}, r
    r = c.ok("STORE 1 -FLAGS (\\Flagged)")
    assert flags(r.fetches()[1]) == {"$Work"}, r
    r = c.ok("STORE 1 FLAGS (\\Seen \\Answered)")
    assert flags(r.fetches()[1]) == {"\\Seen", "\\Answered"}, r
    r = c.ok("STORE 2:3 +FLAGS.SILENT (\\Deleted)")
    assert not r.of("FETCH"), r
    r = c.ok("UID STORE 4 +FLAGS ($Label1)")
    f = r.fetches()[4]
    assert int(f["UID"]) == 4 and flags(f) == {"$Label1"}, r
    f = c.ok("FETCH 1:5 FLAGS").fetches()
    assert flags(f[1]) == {"\\Seen", "\\Answered"}
    assert flags(f[2]) == flags(f[3]) == {"\\Deleted"}
    assert flags(f[4]) == {"$Label1"} and flags(f[5]) == set()
    # Keywords are permanent and survive a new session.
    c2 = session(imap_server, rev2=rev2)
    r = c2.select("INBOX")
    assert "$Label1" in (r.untagged_code("PERMANENTFLAGS") or ""
                         ) or "\\*" in r.untagged_code("PERMANENTFLAGS"), r
    f = c2.ok("FETCH 4 FLAGS").fetches()
    assert flags(f[4]) == {"$Label1"}
    assert c.cmd("STORE 1 +FLAGS (\\Bogus)").status in ("BAD", "NO")
    c.close()
    c2.close()


def test_store_unchangedsince_modified(imap_server, rev2):
    c = setup_five(imap_server, rev2)
    f = c.ok("FETCH 1:2 (MODSEQ)").fetches()
    m = max(int(f[1]["MODSEQ"][0]), int(f[2]["MODSEQ"][0]))
    r = c.ok("STORE 2 +FLAGS (\\Seen)")
    m2 = int(r.fetches()[2]["MODSEQ"][0])
    assert m2 > m, r
    r = c.ok(f"STORE 1:2 (UNCHANGEDSINCE {m}) +FLAGS (\\Flagged)")
    assert r.code("MODIFIED") == "2", r
    f = c.ok("FETCH 1:2 (FLAGS MODSEQ)").fetches()
    assert "\\Flagged" in flags(f[1]) and "\\Flagged" not in flags(f[2]), f
    # UNCHANGEDSINCE 0 always fails; a current modseq succeeds.
    r = c.ok("STORE 3 (UNCHANGEDSINCE 0) +FLAGS (\\Flagged)")
    assert r.code("MODIFIED") == "3", r
    cur = int(f[2]["MODSEQ"][0])
    r = c.ok(f"STORE 2 (UNCHANGEDSINCE {cur}) +FLAGS (\\Flagged)")
    assert r.code("MODIFIED") is None, r
    c.close()


# --- COPY / MOVE -------------------------------------------------------------
def test_copy_copyuid(imap_server, rev2):
    c = setup_five(imap_server, rev2)
    c.ok("STORE 1 +FLAGS.SILENT (\\Flagged $Keep)")
    r = c.ok("UID COPY 1:2 Archive")
    args = r.code("COPYUID")
    assert args is not None, r
    v, src, dst = args.split()
    assert expand(src) == [1, 2] and len(expand(dst)) == 2, args
    r = c.ok("STATUS Archive (MESSAGES UIDVALIDITY)")
    st = r.of("STATUS")[0].tokens[3]
    assert [str(x).upper() for x in st[0::2]] == ["MESSAGES", "UIDVALIDITY"]
    assert int(st[1]) == 2 and int(st[3]) == int(v), st
    c.ok("EXAMINE Archive")
    f = c.ok(f"UID FETCH {dst.replace(',', ':')} (UID FLAGS)").fetches()
    by = {int(x["UID"]): x for x in f.values()}
    assert flags(by[expand(dst)[0]]) >= {"\\Flagged", "$Keep"}, by
    c.select("INBOX")
    r = c.cmd("COPY 1 Nowhere")
    assert r.status == "NO" and r.code("TRYCREATE") is not None, r
    c.close()


def test_move(imap_server, rev2):
    c = setup_five(imap_server, rev2)
    before = uids_now(c)
    r = c.ok("UID MOVE 2,4 Trash")
    args = r.untagged_code("COPYUID") or r.code("COPYUID")
    assert args is not None, r
    v, src, dst = args.split()
    assert expand(src) == [2, 4], args
    assert apply_expunges(before, r) == [1, 3, 5], r
    assert uids_now(c) == [1, 3, 5]
    r = c.ok("MOVE 1 Archive")
    assert apply_expunges([1, 3, 5], r) == [3, 5], r
    st = c.ok("STATUS Trash (MESSAGES)").of("STATUS")[0].tokens[3]
    assert int(st[1]) == 2
    c.close()


# --- EXPUNGE -----------------------------------------------------------------
def test_expunge(imap_server, rev2):
    c = setup_five(imap_server, rev2)
    c.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    r = c.ok("EXPUNGE")
    assert len(r.of("EXPUNGE")) + len(r.of("VANISHED")) >= 1, r
    assert apply_expunges([1, 2, 3, 4, 5], r) == [1, 3, 5], r
    assert uids_now(c) == [1, 3, 5]
    r = c.ok("FETCH 2 UID").fetches()
    assert int(r[2]["UID"]) == 3
    # UID EXPUNGE removes only the given \Deleted messages.
    c.ok("UID STORE 1,5 +FLAGS.SILENT (\\Deleted)")
    r = c.ok("UID EXPUNGE 5")
    assert apply_expunges([1, 3, 5], r) == [1, 3], r
    assert uids_now(c) == [1, 3]
    r = c.ok("UID EXPUNGE 1:3")
    assert apply_expunges([1, 3], r) == [3], r
    # UIDs are never reused.
    deliver(imap_server, "alice", [simple_msg(9)])
    r = c.ok("NOOP")
    assert uids_now(c) == [3, 6]
    c.close()
