# SPDX-License-Identifier: MIT
"""Real IMAP clients against one 2,000-message account: mbsync (isync)
syncs it to a local Maildir and back (every message byte-exact, up to the
Maildir's LF line ends and mbsync's own X-TUID header), flags both ways, a second sync transfers nothing, a
local new message is uploaded), offlineimap (offlineimap3) and fetchmail
fetch it all.

The account is filled once per module by pipelined BDAT over one SMTP
session. The clients talk plain IMAP on 143+N (despatch allows LOGIN
without TLS from loopback). Each client run is bounded by a timeout."""
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PASSWORD, USERS, Despatch, wait_imap
from imap_util import (addr, deliver_fast, expand, imap_port, session)

N = 2000
CLIENT_TIMEOUT = 180


def message(i):
    body = "".join(f"Line {j} of message {i}: {'abcdefghij' * (j % 7)}\r\n"
                   for j in range(1 + i % 23))
    return (f"From: Sender {i % 17} <sender{i % 17}@example.org>\r\n"
            f"To: <{addr('alice')}>\r\n"
            f"Subject: client sync {i}\r\n"
            f"Message-ID: <sync-{i}@example.org>\r\n"
            f"Date: Thu, 01 Jan 2026 {i // 3600 % 24:02d}:"
            f"{i // 60 % 60:02d}:{i % 60:02d} +0000\r\n"
            "\r\n" + body).encode()


def need(tool, package):
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed (Debian package {package}; "
                    "scripts/deps.sh should install it)")


@pytest.fixture(scope="module")
def big_account(tmp_path_factory):
    """A running server whose alice has N messages in INBOX; yields
    (server, {uid: stored bytes})."""
    d = Despatch(tmp_path_factory.mktemp("clients"))
    d.init()
    for u in USERS:
        d.add_user(u)
    d.start()
    try:
        wait_imap(d)
        t0 = time.monotonic()
        assert deliver_fast(d, "alice", [message(i) for i in range(N)]) == N
        print(f"delivered {N} messages in {time.monotonic() - t0:.1f}s")
        yield d, server_messages(d)
    finally:
        if d.proc is not None:
            d.stop()
        d.check_problems()


def server_messages(server, mailbox="INBOX"):
    c = session(server)
    c.ok("EXAMINE", mailbox)
    r = c.ok("UID FETCH 1:* (UID BODY.PEEK[])", timeout=120)
    out = {int(f["UID"]): f["BODY[]"] for f in r.fetches().values()}
    c.close()
    return out


def server_flags(server, mailbox="INBOX"):
    c = session(server)
    c.ok("EXAMINE", mailbox)
    r = c.ok("UID FETCH 1:* (UID FLAGS)", timeout=60)
    out = {int(f["UID"]): {str(x) for x in f["FLAGS"]} - {"\\Recent"}
           for f in r.fetches().values()}
    c.close()
    return out


def lf(b):
    return b.replace(b"\r\n", b"\n")


def untuid(b):
    """Drops the X-TUID: header line mbsync adds to messages it copies
    (its own transaction id, used to find the message again)."""
    return re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"", b, count=1)


def run(argv, cwd=None, env=None, timeout=CLIENT_TIMEOUT):
    t0 = time.monotonic()
    r = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    out = r.stdout.decode("utf-8", "replace")
    return r.returncode, out, time.monotonic() - t0


def maildir_files(d):
    return sorted(p for sub in ("cur", "new") for p in (d / sub).glob("*")
                  if p.is_file())


# --- mbsync --------------------------------------------------------------------
def mbsync_config(path, port, maildir):
    path.write_text(f"""IMAPAccount far
Host 127.0.0.1
Port {port}
User {addr('alice')}
Pass {PASSWORD}
SSLType None
AuthMechs LOGIN PLAIN

IMAPStore far
Account far

MaildirStore near
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel sync
Far :far:
Near :near:
Patterns INBOX
Create Both
Sync All
Expunge None
SyncState *
CopyArrivalDate yes
""")


def mbsync(cfg):
    """Runs one sync with mbsync's network debug output (-Dn: the IMAP
    commands it sends, ">>> tag ...", and the untagged responses, without
    message bodies); returns (output, seconds)."""
    rc, out, dt = run(["mbsync", "-c", str(cfg), "-Dn", "sync"])
    assert rc == 0, f"mbsync exited {rc}:\n{out[-4000:]}"
    return out, dt


def commands(out):
    return [l[4:] for l in out.splitlines() if l.startswith(">>> ")]


def transfers(out):
    """The commands of an mbsync run that move messages or flags."""
    return [c for c in commands(out) if re.search(
        r"BODY|RFC822\b|APPEND|STORE|EXPUNGE|MOVE|COPY", c, re.I)]


def bodies_fetched(out):
    return len(re.findall(r"(?m)^\* \d+ FETCH \(.*BODY\[\]", out))


def uid_of(p):
    m = re.search(r",U=(\d+)", p.name)
    assert m, p.name
    return int(m.group(1))


def test_mbsync(big_account, tmp_path):
    need("mbsync", "isync")
    server, stored = big_account
    maildir = tmp_path / "Mail"
    maildir.mkdir()
    cfg = tmp_path / "mbsyncrc"
    mbsync_config(cfg, imap_port(server), maildir)

    out, dt = mbsync(cfg)
    print(f"mbsync first sync: {dt:.1f}s")
    inbox = maildir / "INBOX"
    files = maildir_files(inbox)
    assert len(files) == N, (len(files), out[-2000:])
    by_uid = {uid_of(p): p for p in files}
    assert sorted(by_uid) == sorted(stored)
    bad = [u for u, p in by_uid.items() if untuid(lf(p.read_bytes())) !=
           lf(stored[u])]
    assert not bad, f"{len(bad)} messages differ, first UIDs {bad[:5]}"
    assert bodies_fetched(out) == N, out[-3000:]

    # Nothing changed: a second sync transfers nothing.
    out, dt = mbsync(cfg)
    assert transfers(out) == [], out[-3000:]
    assert bodies_fetched(out) == 0, out[-3000:]

    # A flag set locally reaches the server.
    p = by_uid[10]
    info = p.name.split(":2,")[1] if ":2," in p.name else ""
    newname = p.name.split(":2,")[0] + ":2," + "".join(sorted(info + "F"))
    p.rename(p.parent.parent / "cur" / newname)
    # A flag set on the server reaches the Maildir.
    c = session(server)
    c.select("INBOX")
    c.ok("UID STORE 20 +FLAGS.SILENT (\\Seen \\Answered)")
    c.close()
    # A message written locally is uploaded.
    local = (b"From: <me@example.test>\r\nTo: <alice@example.test>\r\n"
             b"Subject: written locally\r\nMessage-ID: <local-1@example.test>"
             b"\r\nDate: Fri, 02 Jan 2026 10:00:00 +0000\r\n\r\n"
             b"Uploaded by mbsync.\r\n")
    (inbox / "new" / "1767348000.local1.host").write_bytes(lf(local))

    out, dt = mbsync(cfg)
    assert "\\Flagged" in server_flags(server)[10]
    files = {uid_of(p): p for p in maildir_files(inbox) if ",U=" in p.name}
    f20 = files[20].name.split(":2,")[1]
    assert "S" in f20 and "R" in f20, files[20].name
    now = server_messages(server)
    assert len(now) == N + 1, len(now)
    new_uid = max(now)
    assert untuid(lf(now[new_uid])) == lf(local), now[new_uid]

    # And once more: nothing to do.
    out, dt = mbsync(cfg)
    assert transfers(out) == [], out[-3000:]


# --- offlineimap -----------------------------------------------------------
def test_offlineimap(big_account, tmp_path):
    need("offlineimap", "offlineimap3")
    server, _ = big_account
    stored = server_messages(server)  # mbsync may have added one
    maildir = tmp_path / "oi-mail"
    cfg = tmp_path / "offlineimaprc"
    cfg.write_text(f"""[general]
accounts = t
metadata = {tmp_path}/oi-meta
ui = basic

[Account t]
localrepository = L
remoterepository = R

[Repository L]
type = Maildir
localfolders = {maildir}

[Repository R]
type = IMAP
remotehost = 127.0.0.1
remoteport = {imap_port(server)}
remoteuser = {addr('alice')}
remotepass = {PASSWORD}
ssl = no
starttls = no
folderfilter = lambda f: f == 'INBOX'
""")
    env = dict(os.environ, HOME=str(tmp_path))
    rc, out, dt = run(["offlineimap", "-c", str(cfg), "-o", "-u", "basic"],
                      env=env)
    print(f"offlineimap: {dt:.1f}s")
    assert rc == 0, out[-4000:]
    assert "ERROR" not in out, out[-4000:]
    files = maildir_files(maildir / "INBOX")
    assert len(files) >= N, (len(files), out[-2000:])
    # Contents: every server message once (offlineimap keeps the UID in
    # the file name as U=<uid>).
    by_uid = {uid_of(p): p for p in files}
    bad = [u for u, b in stored.items()
           if u not in by_uid or lf(by_uid[u].read_bytes()) != lf(b)]
    assert not bad, f"{len(bad)} missing or different, first {bad[:5]}"


# --- fetchmail -------------------------------------------------------------
def test_fetchmail(big_account, tmp_path):
    need("fetchmail", "fetchmail")
    server, _ = big_account
    stored = server_messages(server)  # mbsync may have added one
    out_dir = tmp_path / "fm"
    out_dir.mkdir()
    rc_file = tmp_path / "fetchmailrc"
    rc_file.write_text(
        "set no bouncemail\n"
        f"poll 127.0.0.1 service {imap_port(server)} protocol IMAP "
        "auth password\n"
        f"  user \"{addr('alice')}\" there with password \"{PASSWORD}\"\n"
        "  keep fetchall no rewrite sslproto ''\n"
        f"  mda \"cat > $(mktemp {out_dir}/m.XXXXXXXX)\"\n")
    rc_file.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path))
    rc, out, dt = run(["fetchmail", "-f", str(rc_file), "--nodetach",
                       "--pidfile", str(tmp_path / "fm.pid"),
                       "--idfile", str(tmp_path / "fm.ids"), "-v"],
                      env=env)
    print(f"fetchmail: {dt:.1f}s")
    assert rc == 0, f"fetchmail exited {rc}:\n{out[-4000:]}"
    files = sorted(out_dir.iterdir())
    assert len(files) == len(stored), (len(files), out[-2000:])
    # fetchmail inserts its own Received: header (after Return-Path);
    # without it the message must be the server's, unchanged.
    want = {lf(b) for b in stored.values()}
    got = set()
    for p in files:
        got.add(re.sub(rb"(?m)^Received: from 127\.0\.0\.1 [^\n]*\n"
                       rb"(?:[ \t][^\n]*\n)*", b"", lf(p.read_bytes()),
                       count=1))
    missing = [b[:120] for b in want if b not in got]
    assert not missing, f"{len(missing)} messages not fetched intact: " \
        f"{missing[:3]}"
