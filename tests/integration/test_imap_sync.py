# SPDX-License-Identifier: MIT
"""IMAP sessions watching changes: two sessions on one mailbox (flags,
expunges, new mail, with correct sequence numbers and no EXPUNGE during
FETCH/STORE/SEARCH), IDLE woken by SMTP delivery and by another session
within a second, CONDSTORE (MODSEQ, CHANGEDSINCE, SEARCH MODSEQ) and QRESYNC
(SELECT ... QRESYNC, VANISHED (EARLIER), VANISHED instead of EXPUNGE)."""
import time

from imap_util import deliver, expand, session, simple_msg


def flags(f):
    return {str(x) for x in f["FLAGS"]} - {"\\Recent"}


def exists(r):
    return [int(u.tokens[1]) for u in r.of("EXISTS")]


def vanished(r, earlier):
    out = []
    for u in r.of("VANISHED"):
        t = u.tokens
        is_earlier = isinstance(t[2], list) and \
            str(t[2][0]).upper() == "EARLIER"
        if is_earlier == earlier:
            out += expand(str(t[-1]))
    return sorted(out)


def test_two_sessions(imap_server, rev2):
    deliver(imap_server, "alice", [simple_msg(i) for i in range(3)])
    a = session(imap_server, rev2=rev2)
    b = session(imap_server, rev2=rev2)
    a.select("INBOX")
    b.select("INBOX")
    # A flag change by A reaches B at B's next command.
    a.ok("STORE 2 +FLAGS (\\Flagged)")
    r = b.ok("NOOP")
    f = r.fetches()
    assert list(f) == [2] and flags(f[2]) == {"\\Flagged"}, r
    # A expunges message 1.
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    r = a.ok("EXPUNGE")
    assert [int(u.tokens[1]) for u in r.of("EXPUNGE")] == [1], r
    # B is not told during FETCH, STORE or SEARCH: its numbers stay.
    r = b.cmd("FETCH 1:3 (UID)")
    assert r.status in ("OK", "NO"), r
    assert not r.of("EXPUNGE") and not r.of("VANISHED"), r
    f = r.fetches()
    assert int(f[2]["UID"]) == 2 and int(f[3]["UID"]) == 3, r
    r = b.ok("STORE 3 +FLAGS (\\Answered)")
    assert not r.of("EXPUNGE"), r
    assert int(r.fetches()[3].get("UID", 3)) == 3, r
    r = b.ok("SEARCH ALL")
    assert not r.of("EXPUNGE"), r
    # NOOP tells B; then sequence numbers move down.
    r = b.ok("NOOP")
    assert [int(u.tokens[1]) for u in r.of("EXPUNGE")] == [1], r
    f = b.ok("FETCH 1:2 (UID FLAGS)").fetches()
    assert int(f[1]["UID"]) == 2 and int(f[2]["UID"]) == 3, f
    assert flags(f[1]) == {"\\Flagged"} and flags(f[2]) == {"\\Answered"}
    # A sees B's \Answered.
    r = a.ok("NOOP")
    f = r.fetches()
    assert list(f) == [2] and flags(f[2]) == {"\\Answered"}, r
    # New mail by SMTP reaches both.
    deliver(imap_server, "alice", [simple_msg(9)])
    for c in (a, b):
        r = c.ok("NOOP")
        assert exists(r) == [3], r
        f = c.ok("FETCH 3 UID").fetches()
        assert int(f[3]["UID"]) == 4
    a.close()
    b.close()


def idle_start(c):
    tag = c.tag()
    c.send(f"{tag} IDLE\r\n")
    r = c.read_resp()
    assert r is not None and r.raw.startswith(b"+"), r
    return tag


def idle_done(c, tag):
    c.send("DONE\r\n")
    r = c.read_tagged(tag)
    assert r.status == "OK", r
    return r


def test_idle_woken_by_smtp(imap_server, rev2):
    deliver(imap_server, "alice", [simple_msg(0)])
    c = session(imap_server, rev2=rev2)
    c.select("INBOX")
    tag = idle_start(c)
    for n in (2, 3):
        deliver(imap_server, "alice", [simple_msg(n)])
        t0 = time.monotonic()
        r, seen = c.wait_for(lambda r: r.kind() == "EXISTS", timeout=5)
        dt = time.monotonic() - t0
        assert r is not None, f"no EXISTS within 5s of delivery: {seen}"
        assert int(r.tokens[1]) == n, seen
        assert dt <= 1.0, f"EXISTS {dt:.2f}s after the delivery's 250"
    idle_done(c, tag)
    f = c.ok("FETCH 3 (UID)").fetches()
    assert int(f[3]["UID"]) == 3
    c.close()


def test_idle_sees_other_session(imap_server, rev2):
    deliver(imap_server, "alice", [simple_msg(i) for i in range(3)])
    c = session(imap_server, rev2=rev2)
    c.select("INBOX")
    other = session(imap_server)
    other.select("INBOX")
    tag = idle_start(c)
    other.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    t0 = time.monotonic()
    r, seen = c.wait_for(lambda r: r.kind() == "FETCH", timeout=5)
    dt = time.monotonic() - t0
    assert r is not None, seen
    assert int(r.tokens[1]) == 2 and "\\Flagged" in [
        str(x) for x in r.tokens[3][r.tokens[3].index("FLAGS") + 1]], r
    assert dt <= 1.0, f"FETCH FLAGS {dt:.2f}s after the STORE"
    # An expunge is reported during IDLE too.
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    t0 = time.monotonic()
    r, seen = c.wait_for(lambda r: r.kind() == "EXPUNGE", timeout=5)
    dt = time.monotonic() - t0
    assert r is not None and int(r.tokens[1]) == 1, seen
    assert dt <= 1.0, f"EXPUNGE {dt:.2f}s after the other's EXPUNGE"
    idle_done(c, tag)
    f = c.ok("FETCH 1:2 (UID)").fetches()
    assert [int(f[i]["UID"]) for i in (1, 2)] == [2, 3]
    other.close()
    c.close()


def test_idle_done_without_changes(imap_server):
    c = session(imap_server)
    c.select("INBOX")
    tag = idle_start(c)
    r, seen = c.wait_for(lambda r: True, timeout=1.5)
    assert r is None or r.raw.startswith(b"* OK"), seen
    idle_done(c, tag)
    c.ok("NOOP")
    c.close()


def test_condstore(imap_server, rev2):
    deliver(imap_server, "alice", [simple_msg(i) for i in range(3)])
    c = session(imap_server, rev2=rev2)
    r = c.select("INBOX", "(CONDSTORE)")
    h0 = int(r.untagged_code("HIGHESTMODSEQ"))
    f = c.ok("FETCH 1:* (MODSEQ)").fetches()
    mods = [int(f[i]["MODSEQ"][0]) for i in (1, 2, 3)]
    assert all(0 < m <= h0 for m in mods), (mods, h0)
    r = c.ok(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})")
    assert not r.of("FETCH"), r
    r = c.ok("STORE 2 +FLAGS (\\Seen)")
    f = r.fetches()[2]
    m = int(f["MODSEQ"][0])
    assert m > h0 and flags(f) == {"\\Seen"}, r
    r = c.ok(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})")
    f = r.fetches()
    assert list(f) == [2] and int(f[2]["MODSEQ"][0]) == m, r
    r = c.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})")
    assert list(r.fetches()) == [2], r
    st = c.ok("STATUS INBOX (HIGHESTMODSEQ)").of("STATUS")[0].tokens[3]
    assert int(st[1]) == m, st
    # SEARCH MODSEQ, and the highest modseq of the matches.
    r = c.ok(f"SEARCH MODSEQ {h0 + 1}")
    found = []
    for u in r.untagged:
        if u.kind() == "SEARCH":
            found += [int(x) for x in u.tokens[2:] if not isinstance(x, list)]
            assert u.tokens[-1] == ["MODSEQ", str(m)], u
        elif u.kind() == "ESEARCH":
            t = [str(x).upper() if not isinstance(x, list) else x
                 for x in u.tokens]
            found += expand(str(u.tokens[t.index("ALL") + 1]))
            assert str(u.tokens[t.index("MODSEQ") + 1]) == str(m), u
    assert found == [2], r
    # A second session's change raises HIGHESTMODSEQ for a new SELECT.
    o = session(imap_server)
    o.select("INBOX")
    o.ok("STORE 3 +FLAGS.SILENT (\\Flagged)")
    r = c.ok("NOOP")
    f = r.fetches()
    assert list(f) == [3] and int(f[3]["MODSEQ"][0]) > m, r
    r = o.ok("EXAMINE INBOX")
    assert int(r.untagged_code("HIGHESTMODSEQ")) > m, r
    o.close()
    c.close()


def test_qresync(imap_server, rev2):
    deliver(imap_server, "alice", [simple_msg(i) for i in range(4)])
    a = session(imap_server, rev2=rev2)
    r = a.ok("ENABLE QRESYNC")
    r = a.select("INBOX")
    v = int(r.untagged_code("UIDVALIDITY"))
    h = int(r.untagged_code("HIGHESTMODSEQ"))
    a.ok("UNSELECT")
    b = session(imap_server)
    b.select("INBOX")
    b.ok("STORE 3 +FLAGS.SILENT (\\Flagged)")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # Resynchronisation on SELECT: what vanished and what changed.
    r = a.select("INBOX", f"(QRESYNC ({v} {h}))")
    assert vanished(r, earlier=True) == [1], r
    f = {int(x["UID"]): x for x in r.fetches().values()}
    assert 3 in f and flags(f[3]) == {"\\Flagged"}, r
    assert int(f[3]["MODSEQ"][0]) > h, r
    assert 2 not in f and 4 not in f, r
    assert exists(r) == [3], r
    h2 = int(r.untagged_code("HIGHESTMODSEQ"))
    # Expunges by others now arrive as VANISHED, not EXPUNGE.
    b.ok("UID STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    r = a.ok("NOOP")
    assert not r.of("EXPUNGE"), r
    assert vanished(r, earlier=False) == [2], r
    # And its own.
    a.ok("UID STORE 4 +FLAGS.SILENT (\\Deleted)")
    r = a.ok("EXPUNGE")
    assert not r.of("EXPUNGE") and vanished(r, earlier=False) == [4], r
    # UID FETCH ... (CHANGEDSINCE m VANISHED).
    r = a.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h} VANISHED)")
    assert vanished(r, earlier=True) == [1, 2, 4], r
    f = {int(x["UID"]): x for x in r.fetches().values()}
    assert list(f) == [3], r
    # A stale UIDVALIDITY gets no VANISHED: the client must resync fully.
    a.ok("UNSELECT")
    r = a.select("INBOX", f"(QRESYNC ({v + 1} {h2}))")
    assert not r.of("VANISHED"), r
    a.close()
    b.close()


def test_reselect_sees_every_change(imap_server, rev2):
    """SELECT may copy the view another SELECT loaded, but only while the
    mailbox is unchanged: after another session's flag change, expunge and
    an SMTP delivery, a new SELECT shows exactly the store's state."""
    deliver(imap_server, "alice", [simple_msg(i) for i in range(4)])
    a = session(imap_server, rev2=rev2)
    b = session(imap_server, rev2=rev2)
    for _ in range(2):  # the second SELECT is served from the cache
        r = a.select("INBOX")
        assert [x.raw for x in r.of("EXISTS")] == [b"* 4 EXISTS"], r
    b.select("INBOX")
    b.ok("STORE 2 +FLAGS.SILENT (\\Flagged $Work)")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    deliver(imap_server, "alice", [simple_msg(9, subject="late")])
    c = session(imap_server, rev2=rev2)
    for who in (a, c, a):
        r = who.select("INBOX")
        assert [x.raw for x in r.of("EXISTS")] == [b"* 4 EXISTS"], r
        f = who.ok("FETCH 1:4 (UID FLAGS)").fetches()
        assert [int(f[i]["UID"]) for i in (1, 2, 3, 4)] == [2, 3, 4, 5], f
        assert flags(f[1]) - {"\\Recent"} == {"\\Flagged", "$Work"}, f
        assert all(not (flags(f[i]) - {"\\Recent"}) for i in (2, 3, 4)), f
