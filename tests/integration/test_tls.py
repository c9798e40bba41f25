# SPDX-License-Identifier: MIT
"""TLS on every listener that offers it: SMTP STARTTLS (25+N), submission
STARTTLS (587+N), submissions (465+N), IMAP STARTTLS (143+N), IMAPS (993+N).

- Protocols and ciphers, with Python's ssl: TLS 1.0 and 1.1 refused, TLS
  1.2 and 1.3 accepted; in TLS 1.2 only ECDHE + AEAD suites (no RSA key
  exchange, CBC, 3DES, RC4, NULL, anonymous); no compression; the
  self-signed certificate of `despatch init` is ECDSA P-256, signed with
  SHA-256, names the host name in its subjectAltName and is valid 397 days.
- Certificate reload on SIGHUP: a replaced certificate and key are served
  to new connections on all four listeners while sessions opened before go
  on; a broken replacement is refused in the log and the previous one stays.
  The certificate's remaining days are logged, as a warning under 30 days.
- testssl.sh (Debian package, `testssl`) against 25 (--starttls smtp), 465,
  143 (--starttls imap) and 993: protocols, cipher categories, forward
  secrecy, server defaults (certificate), vulnerabilities. Any finding rated
  MEDIUM, HIGH or CRITICAL fails the test, listed in the message.

About the certificate testssl.sh sees: the self-signed certificate that
`init` makes would be reported as "chain of trust: failed (self signed)"
(CRITICAL), "certificate does not match supplied URI" (HIGH, when tested as
127.0.0.1) and "neither CRL nor OCSP URI provided" (HIGH). Those findings are
about where a certificate comes from, not about how despatch speaks TLS, and
an operator who wants clients to trust the server installs a CA-issued
certificate (docs/security.md). So this test does what such an operator does:
it makes a test CA, issues the server a certificate for mx.example.test
(ECDSA P-256, SHA-256, 90 days, a CRL distribution point as every public
CA's certificates carry; testssl.sh does not fetch it without --phone-out),
installs it, and runs testssl.sh on the host name mx.example.test with
--ip 127.0.0.1 and --add-ca for the test CA. Nothing else is excused: every
other finding rated MEDIUM or worse fails the test. The self-signed default
certificate is checked field by field in test_init_certificate instead.

testssl.sh is slow (each run starts ~hundreds of openssl processes): the four
runs go in parallel, with --fast (skips the DH group enumeration, which has
nothing to find as no DHE suite is offered, and NPN) and --nodns none; about
90 s together on 2 cores while the rest of the suite and other jobs kept the
machine at a load of 7-9 (104 s at load 9); the other TLS tests take ~10 s.
"""
import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HOST, record_figure, wait_imap

HOSTNAME = "mx.example.test"
TESTSSL_SEVERITIES = ("MEDIUM", "HIGH", "CRITICAL")


# --- connecting --------------------------------------------------------------
def _read_until(sock, pred, limit=65536, timeout=15):
    buf = b""
    deadline = time.monotonic() + timeout
    while not pred(buf):
        if time.monotonic() > deadline or len(buf) > limit:
            raise AssertionError(f"no expected reply: {buf[-300:]!r}")
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed: {buf[-300:]!r}")
        buf += chunk
    return buf


def _smtp_done(buf):
    lines = buf.split(b"\r\n")
    return len(lines) >= 2 and any(len(l) >= 4 and l[3:4] == b" "
                                   for l in lines[:-1])


def plain_socket(kind, port):
    """A TCP socket on which TLS may start: after STARTTLS for "smtp" and
    "imap", at once for "smtps" and "imaps"."""
    s = socket.create_connection((HOST, port), timeout=15)
    if kind == "smtp":
        _read_until(s, _smtp_done)
        s.sendall(b"EHLO client.example.org\r\n")
        _read_until(s, _smtp_done)
        s.sendall(b"STARTTLS\r\n")
        r = _read_until(s, _smtp_done)
        assert r.startswith(b"220"), r
    elif kind == "imap":
        _read_until(s, lambda b: b"\r\n" in b)
        s.sendall(b"a STARTTLS\r\n")
        r = _read_until(s, lambda b: b"a " in b and b.endswith(b"\r\n"))
        assert b"a OK" in r, r
    return s


def tls_connect(kind, port, ctx):
    s = plain_socket(kind, port)
    try:
        return ctx.wrap_socket(s, server_hostname=HOSTNAME)
    except BaseException:
        s.close()
        raise


def client_ctx(minv=None, maxv=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if ciphers is not None or (maxv is not None
                               and maxv < ssl.TLSVersion.TLSv1_2):
        # Let the local OpenSSL offer what the server must refuse.
        ctx.set_ciphers((ciphers or "ALL") + ":@SECLEVEL=0")
    if minv is not None:
        ctx.minimum_version = minv
    if maxv is not None:
        ctx.maximum_version = maxv
    return ctx


def endpoints(d):
    o = d.offset
    return [("smtp", 25 + o), ("smtp", 587 + o), ("smtps", 465 + o),
            ("imap", 143 + o), ("imaps", 993 + o)]


def four(d):
    o = d.offset
    return [("smtp", 25 + o), ("smtps", 465 + o), ("imap", 143 + o),
            ("imaps", 993 + o)]


def fingerprint(kind, port):
    with tls_connect(kind, port, client_ctx()) as t:
        der = t.getpeercert(binary_form=True)
    return openssl_x509(der)


def openssl_x509(der):
    """(sha256 fingerprint, serial) of a DER certificate."""
    r = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                        "-fingerprint", "-sha256", "-serial"], input=der,
                       stdout=subprocess.PIPE, check=True, timeout=30)
    out = dict(l.split("=", 1) for l in r.stdout.decode().splitlines())
    return out["sha256 Fingerprint"], out["serial"]


# --- certificates ---------------------------------------------------------------
def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_ca(dirpath):
    dirpath.mkdir(exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-sha256", "-days", "30",
            "-subj", "/CN=despatch test CA", "-keyout", "ca.key", "-out",
            "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=dirpath)
    os.chmod(dirpath / "ca.pem", 0o644)
    return dirpath / "ca.pem"


def issue(dirpath, name, days=90):
    """A server certificate for HOSTNAME from the test CA in dirpath:
    (cert path, key path)."""
    ext = dirpath / f"{name}.ext"
    ext.write_text(
        f"subjectAltName=DNS:{HOSTNAME}\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "crlDistributionPoints=URI:http://ca.example.test/test.crl\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={HOSTNAME}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=dirpath)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey",
            "ca.key", "-CAcreateserial", "-sha256", "-days", str(days),
            "-extfile", ext.name, "-out", f"{name}.pem", cwd=dirpath)
    return dirpath / f"{name}.pem", dirpath / f"{name}.key"


def install(d, cert, key):
    """Replaces the data dir's certificate and key (each by rename, as an
    operator's renewal tool would), owned like the data dir so that a
    server running as its owner can read them; key 0600."""
    st = os.stat(d.data)
    tls = d.data / "tls"
    for src, dst, mode in ((cert, "cert.pem", 0o644), (key, "key.pem",
                                                        0o600)):
        tmp = tls / f".{dst}.new"
        shutil.copyfile(src, tmp)
        os.chmod(tmp, mode)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, tls / dst)


def wait_log(d, needle, count, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if d.stderr_text().count(needle) >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"no {needle!r} (#{count}) in the log within {timeout}s:\n"
                + d.stderr_text()[-3000:])


# --- protocol and cipher checks ----------------------------------------------
# Python warns that TLS 1.0 and 1.1 are deprecated: trying them is the point.
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_protocols_and_ciphers(imap_server):
    d = imap_server
    weak12 = ["AES128-SHA", "AES256-GCM-SHA384",  # RSA key exchange
              "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA256",  # CBC
              "DES-CBC3-SHA", "ECDHE-ECDSA-DES-CBC3-SHA",  # 3DES
              "ECDHE-ECDSA-RC4-SHA", "RC4-SHA",  # RC4
              "ECDHE-ECDSA-NULL-SHA", "NULL-SHA256",  # no encryption
              "AECDH-AES128-SHA", "ADH-AES128-GCM-SHA256",  # anonymous
              "DHE-RSA-AES128-GCM-SHA256"]  # finite-field DHE
    for kind, port in endpoints(d):
        where = f"{kind}:{port}"
        for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            with pytest.raises(ssl.SSLError) as e:
                tls_connect(kind, port, client_ctx(minv=v, maxv=v)).close()
            # The server's alert, not the local library refusing to try.
            assert "NO_PROTOCOLS_AVAILABLE" not in str(e.value), e.value
            assert "version" in str(e.value).lower(), (where, v, e.value)
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with tls_connect(kind, port, client_ctx(minv=v, maxv=v)) as t:
                want = "TLSv1.2" if v == ssl.TLSVersion.TLSv1_2 \
                    else "TLSv1.3"
                assert t.version() == want, (where, t.version())
                assert t.compression() is None, where
                name, _, bits = t.cipher()
                assert bits >= 128, (where, t.cipher())
                if v == ssl.TLSVersion.TLSv1_2:
                    assert name.startswith("ECDHE-") and (
                        "GCM" in name or "CHACHA20" in name), (where, name)
        tried = 0
        for c in weak12:
            try:
                ctx = client_ctx(minv=ssl.TLSVersion.TLSv1_2,
                                 maxv=ssl.TLSVersion.TLSv1_2, ciphers=c)
            except ssl.SSLError:
                continue  # the local OpenSSL lacks it (RC4, say)
            tried += 1
            with pytest.raises(ssl.SSLError) as e:
                tls_connect(kind, port, ctx).close()
            assert "handshake failure" in str(e.value).lower() or \
                "no shared cipher" in str(e.value).lower(), (where, c, e.value)
        assert tried >= 8, tried
        # The server picks its preferred suite, not the client's first.
        with tls_connect(kind, port, client_ctx(
                maxv=ssl.TLSVersion.TLSv1_2,
                ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:"
                        "ECDHE-ECDSA-AES256-GCM-SHA384")) as t:
            assert t.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"
    # The server's groups: X25519, P-256, P-384; not P-521 alone.
    r = subprocess.run(["openssl", "s_client", "-connect",
                        f"{HOST}:{465 + d.offset}", "-groups", "P-521",
                        "-tls1_3"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    assert r.returncode != 0, r.stdout[-2000:]


def test_init_certificate(despatch):
    """The self-signed certificate `despatch init` makes."""
    pem = (despatch.data / "tls" / "cert.pem").read_bytes()
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-dates"],
                          input=pem, stdout=subprocess.PIPE, check=True,
                          timeout=30).stdout.decode()
    assert "Public Key Algorithm: id-ecPublicKey" in text, text
    assert "NIST CURVE: P-256" in text or "prime256v1" in text, text
    assert "Signature Algorithm: ecdsa-with-SHA256" in text, text
    assert f"DNS:{HOSTNAME}" in text, text
    assert "CA:FALSE" in text and "TLS Web Server Authentication" in text
    days = subprocess.run(["openssl", "x509", "-noout", "-checkend",
                           str(396 * 86400)], input=pem, timeout=30,
                          stdout=subprocess.PIPE)
    assert days.returncode == 0, "expires within 396 days"
    days = subprocess.run(["openssl", "x509", "-noout", "-checkend",
                           str(398 * 86400)], input=pem, timeout=30,
                          stdout=subprocess.PIPE)
    assert days.returncode == 1, "valid longer than 398 days"
    key = despatch.data / "tls" / "key.pem"
    assert os.stat(key).st_mode & 0o777 == 0o600


# --- reload on SIGHUP ---------------------------------------------------------
def test_sighup_reloads_certificate(imap_server, tmp_path):
    d = imap_server
    before = {p: fingerprint(k, p) for k, p in four(d)}
    assert len({v for v in before.values()}) == 1, before
    # Sessions that started before the reload, one per listener, each
    # already in TLS.
    olds = [tls_connect(k, p, client_ctx()) for k, p in four(d)]
    try:
        for (k, _), t in zip(four(d), olds):
            if k in ("smtps", "imaps"):  # read the greeting
                _read_until(t, (_smtp_done if k == "smtps"
                                else lambda b: b"\r\n" in b))
        ca = tmp_path / "ca"
        make_ca(ca)
        cert, key = issue(ca, "new")
        install(d, cert, key)
        d.proc.send_signal(signal.SIGHUP)
        wait_log(d, "event=reload status=ok", 1)
        after = {p: fingerprint(k, p) for k, p in four(d)}
        want = openssl_x509(subprocess.run(
            ["openssl", "x509", "-outform", "DER", "-in", str(cert)],
            stdout=subprocess.PIPE, check=True, timeout=30).stdout)
        for p in after:
            assert after[p] == want, (p, after[p], want, before[p])
            assert after[p][1] != before[p][1]  # serial
        # The old sessions still work, on the old certificate.
        for (k, _), t in zip(four(d), olds):
            assert openssl_x509(t.getpeercert(binary_form=True)) == \
                next(iter(before.values()))
            if k.startswith("smtp"):
                t.sendall(b"NOOP\r\n")
                assert _read_until(t, _smtp_done).startswith(b"250")
            else:
                t.sendall(b"n NOOP\r\n")
                assert b"n OK" in _read_until(
                    t, lambda b: b"n " in b and b.endswith(b"\r\n"))
        # A broken replacement (a key that does not match) is refused in
        # the log; the previous certificate stays for new connections.
        _, other_key = issue(ca, "other")
        install(d, cert, other_key)
        d.proc.send_signal(signal.SIGHUP)
        wait_log(d, "event=reload status=refused", 1)
        log = d.stderr_text()
        assert "does not match" in log or "mismatch" in log, log[-2000:]
        # And a certificate file that is not one.
        (ca / "junk.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n")
        install(d, ca / "junk.pem", key)
        d.proc.send_signal(signal.SIGHUP)
        wait_log(d, "event=reload status=refused", 2)
        for k, p in four(d):
            assert fingerprint(k, p) == want, (k, p)
        assert d.proc.poll() is None
    finally:
        for t in olds:
            t.close()


# --- testssl.sh ---------------------------------------------------------------
def find_testssl():
    for name in ("testssl", "testssl.sh"):
        p = shutil.which(name)
        if p:
            return p
    pytest.skip("testssl.sh is not installed (scripts/deps.sh installs it)")


def run_testssl(bin_, kind, port, ca, outdir):
    jf = outdir / f"testssl-{kind}-{port}.json"
    log = outdir / f"testssl-{kind}-{port}.log"
    argv = [bin_, "--quiet", "--color", "0", "--warnings", "batch",
            "--openssl", "/usr/bin/openssl", "--fast", "--nodns", "none",
            "--ip", HOST, "--add-ca", str(ca), "--connect-timeout", "10",
            "--openssl-timeout", "10",
            "-p", "-s", "-f", "-S", "-P", "-U", "--jsonfile", str(jf)]
    if kind in ("smtp", "imap"):
        argv += ["--starttls", kind]
    argv.append(f"{HOSTNAME}:{port}")
    t0 = time.monotonic()
    with open(log, "wb") as out:
        r = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=420,
                           env=dict(os.environ, TERM="dumb"))
    took = time.monotonic() - t0
    return kind, port, r.returncode, jf, log, took


def test_testssl(imap_server, tmp_path):
    bin_ = find_testssl()
    d = imap_server
    ca_dir = tmp_path / "ca"
    ca = make_ca(ca_dir)
    cert, key = issue(ca_dir, "server")
    install(d, cert, key)
    d.proc.send_signal(signal.SIGHUP)
    wait_log(d, "event=reload status=ok", 1)
    out = tmp_path / "testssl"
    out.mkdir()
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        runs = list(ex.map(lambda kp: run_testssl(bin_, kp[0], kp[1], ca,
                                                  out),
                           four(d)))
    took = time.monotonic() - t0
    record_figure("testssl", f"4 runs in parallel: {took:.0f} s ("
                  + ", ".join(f"{k}:{p - d.offset} {t:.0f} s"
                              for k, p, _, _, _, t in runs) + ")")
    bad, seen = [], {}
    for kind, port, rc, jf, log, _ in runs:
        where = f"{kind}:{port - d.offset}(+{d.offset})"
        if not jf.exists():
            pytest.fail(f"testssl {where} wrote no JSON (rc {rc}):\n"
                        + log.read_text("utf-8", "replace")[-3000:])
        findings = json.loads(jf.read_text())
        ids = {f["id"] for f in findings}
        seen[where] = ids
        for f in findings:
            if f.get("severity") in TESTSSL_SEVERITIES:
                bad.append(f"{where} {f['id']} {f['severity']}: "
                           f"{f.get('finding', '')}")
            if f["id"] == "scanProblem" or f.get("severity") == "FATAL":
                bad.append(f"{where} scan problem: {f.get('finding')}")
    assert not bad, "testssl.sh findings rated MEDIUM or worse:\n" + \
        "\n".join(bad)
    # The runs covered what they were asked to (protocols, ciphers,
    # forward secrecy, certificate, vulnerabilities).
    for where, ids in seen.items():
        for must in ("SSLv2", "TLS1", "TLS1_1", "TLS1_3", "cipherlist_NULL",
                     "PFS", "cert_chain_of_trust", "heartbleed", "ROBOT",
                     "secure_client_renego", "CRIME_TLS", "SWEET32",
                     "LOGJAM", "LUCKY13", "RC4"):
            assert must in ids, (where, must, sorted(ids))


def test_certificate_expiry_logged(server, tmp_path):
    """serve logs how long its certificate lasts at start and at each
    reload, and warns from 30 days before it expires."""
    d = server
    wait_log(d, "event=tls-certificate", 1)
    assert re.search(r"event=tls-certificate cert=\"[^\"]*/tls/cert.pem\" "
                     r"expires_in_days=39[67]\n", d.stderr_text()), \
        d.stderr_text()[-2000:]
    ca = tmp_path / "ca"
    make_ca(ca)
    cert, key = issue(ca, "short", days=10)
    install(d, cert, key)
    d.proc.send_signal(signal.SIGHUP)
    wait_log(d, "event=reload status=ok", 1)
    log = d.stderr_text()
    assert "level=warn proto=serve event=tls-certificate" in log, log[-2000:]
    assert re.search(r"expires_in_days=(9|10) note=\"expires soon", log), \
        log[-2000:]
