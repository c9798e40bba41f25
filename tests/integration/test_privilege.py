# SPDX-License-Identifier: MIT
"""Leaving root. Started as root, `despatch serve` binds its ports (below
1024 too), reads its key, then runs as the data dir's owner, the system
user `despatch` that `init` run as root creates, with no supplementary
groups and no capabilities, before it reads a byte from the network. It
refuses a data dir owned by root and stops if it cannot leave root. The
admin commands run as root become the data dir's owner before they touch
the store, so the server is never locked out by a root-owned file.

These tests need root (CI runs as root) and are skipped otherwise; the one
for ports below 1024 runs the server in a network namespace of its own
(`unshare -n`), where every port is free, and talks to it through nsenter.
"""
import os
import pwd
import signal
import smtplib
import subprocess
import sys
import time

import pytest

from conftest import DOMAIN, HOST, Despatch, sanitizer_report

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def despatch_user():
    return pwd.getpwnam("despatch")


def assert_dropped(pid):
    pw = despatch_user()
    st = proc_status(pid)
    assert st["Uid"] == [str(pw.pw_uid)] * 4, st["Uid"]
    assert st["Gid"] == [str(pw.pw_gid)] * 4, st["Gid"]
    assert st.get("Groups", []) == [], st.get("Groups")
    assert int(st["CapEff"][0], 16) == 0, st["CapEff"]
    assert int(st["CapPrm"][0], 16) == 0, st["CapPrm"]


def owners(path):
    """{(uid, gid)} of path and everything in it."""
    seen = {}
    for root, dirs, files in os.walk(path):
        for n in [root] + [os.path.join(root, x) for x in dirs + files]:
            st = os.lstat(n)
            seen.setdefault((st.st_uid, st.st_gid), n)
    return seen


def test_init_makes_user_and_owned_data_dir(despatch):
    pw = despatch_user()
    assert pw.pw_shell == "/usr/sbin/nologin", pw
    assert pw.pw_uid != 0
    assert list(owners(despatch.data)) == [(pw.pw_uid, pw.pw_gid)], \
        owners(despatch.data)
    for name in ("tls/key.pem", "despatch.conf", "store/meta.db"):
        assert os.stat(despatch.data / name).st_mode & 0o777 == 0o600, name
    assert os.stat(despatch.data).st_mode & 0o777 == 0o700


def wait_started(d, timeout=30):
    """The listeners accept (the kernel completes handshakes into the
    backlog) as soon as they are bound, a moment before the switch; the
    server logs event=start after it."""
    deadline = time.monotonic() + timeout
    while "event=start " not in d.stderr_text():
        assert time.monotonic() < deadline, d.stderr_text()[-3000:]
        time.sleep(0.05)


def test_serve_runs_as_despatch_user(imap_server):
    d = imap_server
    wait_started(d)
    assert_dropped(d.proc.pid)
    log = d.stderr_text()
    assert "event=privileges user=despatch" in log, log[-2000:]
    # The drop came before the loop: no session logged before it.
    assert log.index("event=privileges") < log.index("event=start"), log
    # And the server works as that user: a message in, stored, read back.
    with smtplib.SMTP(HOST, 25 + d.offset, timeout=30) as s:
        s.sendmail("x@example.org", [f"alice@{DOMAIN}"],
                   b"Subject: priv\r\n\r\nbody\r\n")
    deadline = time.monotonic() + 20
    while not d.uids("alice") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert b"body" in d.cat("alice", d.uids("alice")[0])


def test_cli_as_root_on_running_server(server):
    """queue, user add, mail list/cat, store verify/stats/gc as root while
    serve runs: nothing in the data dir becomes root's, and the server
    still reads and writes its store afterwards."""
    d = server
    pw = despatch_user()
    with smtplib.SMTP(HOST, 25 + d.offset, timeout=30) as s:
        s.sendmail("x@example.org", [f"bob@{DOMAIN}"],
                   b"Subject: one\r\n\r\nfirst\r\n")
    deadline = time.monotonic() + 20
    while not d.uids("bob") and time.monotonic() < deadline:
        time.sleep(0.1)
    uid = d.uids("bob")[0]
    assert b"first" in d.cat("bob", uid)
    d.cli("queue", "list")
    d.add_user("dave")
    d.cli("user", "list")
    assert d.verify().returncode == 0
    d.stats()
    d.cli("store", "gc")
    assert list(owners(d.data)) == [(pw.pw_uid, pw.pw_gid)], owners(d.data)
    # The server goes on: the new user gets mail.
    with smtplib.SMTP(HOST, 25 + d.offset, timeout=30) as s:
        s.sendmail("x@example.org", [f"dave@{DOMAIN}"],
                   b"Subject: two\r\n\r\nsecond\r\n")
    deadline = time.monotonic() + 20
    while not d.uids("dave") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert b"second" in d.cat("dave", d.uids("dave")[0])
    assert list(owners(d.data)) == [(pw.pw_uid, pw.pw_gid)], owners(d.data)


def run_serve(d, prefix=(), timeout=30):
    return subprocess.run([*prefix, d.bin, "serve", "--data", str(d.data)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=d.env(),
                          timeout=timeout)


def test_root_owned_data_dir_refused(despatch):
    d = despatch
    subprocess.run(["chown", "-R", "root:root", str(d.data)], check=True,
                   timeout=30)
    r = run_serve(d)
    err = r.stderr.decode("utf-8", "replace")
    assert sanitizer_report(err) is None, err
    assert r.returncode == 1, err
    assert "is owned by root" in err and "despatch init" in err, err
    # Nothing was bound, nothing made as root survives a chown back.
    st = despatch_user()
    subprocess.run(["chown", "-R", f"{st.pw_uid}:{st.pw_gid}",
                    str(d.data)], check=True, timeout=30)


def test_refuses_root_when_drop_impossible(despatch):
    """Without CAP_SETUID/CAP_SETGID (a container that drops them, say)
    root cannot switch user: serve stops with a clear message instead of
    serving as root, and so does an admin command."""
    d = despatch
    prefix = ("setpriv", "--bounding-set", "-setuid,-setgid")
    r = run_serve(d, prefix)
    err = r.stderr.decode("utf-8", "replace")
    assert sanitizer_report(err) is None, err
    assert r.returncode == 1, err
    assert "refusing to run as root" in err, err
    assert "event=start" not in err, err
    r = subprocess.run([*prefix, d.bin, "store", "stats", "--data",
                        str(d.data)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=d.env(), timeout=30)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 1 and "refusing to run as root" in err, err


def test_unreachable_data_dir_explained(despatch, tmp_path):
    """A data dir under a folder the user cannot search (/root, mode
    0700): serve says so instead of failing later in SQLite."""
    d = despatch
    os.chmod(tmp_path, 0o700)
    try:
        r = run_serve(d)
    finally:
        os.chmod(tmp_path, 0o711)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 1, err
    assert "cannot use the data dir" in err and "searchable" in err, err


NETNS_CLIENT = r"""
import socket, sys
for port, want in ((25, b"220 "), (143, b"* OK")):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = s.recv(200)
    s.close()
    assert data.startswith(want), (port, data)
print("ok")
"""


def wait_logged_start(proc, log, timeout=30):
    """Waits (bounded) until the serve process proc, logging to the file
    log, has logged its start; fails if it exits first."""
    deadline = time.monotonic() + timeout
    while b"event=start " not in log.read_bytes():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def stop_proc(proc):
    """SIGTERM, then the exit code (None if it had to be killed)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return None


def test_low_ports_in_network_namespace(tmp_path):
    """The standard ports (25, 587, 465, 143, 993) in a network namespace
    of the test's own, where they are free whatever runs on the host."""
    probe = subprocess.run(["unshare", "-n", "true"], timeout=30,
                           stderr=subprocess.PIPE)
    if probe.returncode != 0:
        pytest.skip(f"unshare -n: {probe.stderr.decode()!r}")
    d = Despatch(tmp_path)
    d.offset, d.port = 0, 25
    d.init()
    log = tmp_path / "serve-netns.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["unshare", "-n", "sh", "-c",
             'ip link set lo up && exec "$0" serve --data "$1"', d.bin,
             str(d.data)], stdin=subprocess.DEVNULL, stdout=out,
            stderr=out, env=d.env())
    try:
        wait_logged_start(proc, log)
        text = log.read_text()
        for p in (25, 587, 465, 143, 993):
            assert f"port={p} " in text, text
        assert_dropped(proc.pid)
        r = subprocess.run(["nsenter", f"--net=/proc/{proc.pid}/ns/net",
                            sys.executable, "-c", NETNS_CLIENT],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        assert r.stdout.strip() == b"ok", r.stderr.decode()[-2000:]
    finally:
        rc = stop_proc(proc)
    text = log.read_text("utf-8", "replace")
    assert rc == 0, text[-3000:]
    assert sanitizer_report(text) is None, text


def test_non_root_unchanged(tmp_path):
    """Run by an ordinary user, init makes no system user and serve
    switches nothing: it runs as that user."""
    d = Despatch(tmp_path)
    home = tmp_path / "nobody"
    home.mkdir()
    os.chown(home, 65534, 65534)
    d.data = home / "data"
    prefix = ["setpriv", "--reuid", "65534", "--regid", "65534",
              "--clear-groups"]
    r = subprocess.run([*prefix, d.bin, "init", "--data", str(d.data),
                        "--domain", DOMAIN, "--hostname", "mx.example.test",
                        "--listen", HOST, "--port-offset", str(d.offset)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=d.env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"created system user" not in r.stdout
    assert list(owners(d.data)) == [(65534, 65534)], owners(d.data)
    log = tmp_path / "serve-nobody.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*prefix, d.bin, "serve", "--data",
                                 str(d.data)], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out, env=d.env())
    try:
        wait_logged_start(proc, log)
        st = proc_status(proc.pid)
        assert st["Uid"] == ["65534"] * 4, st
        assert b"event=privileges" not in log.read_bytes()
    finally:
        rc = stop_proc(proc)
    assert rc == 0, log.read_text()[-3000:]
