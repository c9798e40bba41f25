# SPDX-License-Identifier: MIT
"""`despatch serve` refuses to start, promptly and cleanly, when a listener
cannot be bound: an admin sees the reason on stderr and a non-zero exit,
not a server half up (SMTP listening, IMAP not) or a hang."""
import socket
import subprocess
import time

from conftest import HOST, sanitizer_report


def test_port_in_use_fails_fast(despatch):
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind((HOST, 993 + despatch.offset))  # the last listener of init
    busy.listen()
    try:
        t0 = time.monotonic()
        r = subprocess.run([despatch.bin, "serve", "--data",
                            str(despatch.data)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=despatch.env(),
                           timeout=30)
        took = time.monotonic() - t0
    finally:
        busy.close()
    err = r.stderr.decode("utf-8", "replace")
    assert sanitizer_report(err) is None, err
    assert r.returncode == 1, err
    assert f"port {993 + despatch.offset}: address already in use" in err, err
    assert took < 10, took
    # The SMTP listener it had opened is closed again: the port is free.
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, 25 + despatch.offset))
    s.close()
