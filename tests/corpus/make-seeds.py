#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of the small fuzz targets (codec-base64,
codec-qp, mime-rfc2047, mime-address, mime-date, sasl, config) under
tests/corpus/<target>/. The inputs are what real clients send: header
values and bodies as Thunderbird, Outlook, Apple Mail/iOS and mutt write
them, and the edge cases each decoder must survive. Targets that read a
4-byte (mime-date: 8-byte) steering prefix get one; its bits pick split
points, line lengths and max counts. Re-run after editing; the files are
committed."""
import base64
import os
import struct
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data, prefix=4, seed=0x12345678):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode('utf-8', 'surrogateescape')
    if prefix == 4:
        data = struct.pack('<I', seed & 0xffffffff) + data
    elif prefix == 8:
        data = struct.pack('<II', seed & 0xffffffff,
                           (seed * 2654435761) & 0xffffffff) + data
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def b64lines(raw, width, eol=b'\r\n'):
    s = base64.b64encode(raw)
    return eol.join(s[i:i + width] for i in range(0, len(s), width))


TEXT = ('Hello Bob,\r\n\r\nthe minutes of Tuesday\'s meeting are attached. '
        'Caf\u00e9 at 10:00 \u2013 see you there \u2014 Alice \U0001F600\r\n'
        ).encode()
PNG = bytes.fromhex('89504e470d0a1a0a0000000d4948445200000001000000010806'
                    '0000001f15c4890000000d49444154789c6360000002000154a2'
                    '4f5c0000000049454e44ae426082')


def codec_base64():
    t = 'codec-base64'
    put(t, 'thunderbird-72', b64lines(TEXT * 3, 72) + b'\r\n', seed=72)
    put(t, 'outlook-76', b64lines(TEXT * 4, 76) + b'\r\n\r\n', seed=76)
    put(t, 'ios-76-png', b64lines(PNG * 5, 76) + b'\r\n', seed=0x5)
    put(t, 'mutt-64', b64lines(TEXT, 64) + b'\r\n', seed=64 << 3)
    put(t, 'lf-only', b64lines(TEXT * 2, 76, b'\n') + b'\n', seed=1)
    put(t, 'one-line', base64.b64encode(TEXT), seed=0)
    put(t, 'no-padding', base64.b64encode(b'ab').rstrip(b'='), seed=3)
    put(t, 'pad-mid', b'QUJD=REVG\r\nR0hJ\r\n', seed=9)
    put(t, 'garbage', b'QU*JD\x00RE\xffVG !!R0hJ\r\n====', seed=11)
    put(t, 'empty', b'', seed=0)
    put(t, 'only-crlf', b'\r\n\r\n', seed=2)
    put(t, 'short-last', b64lines(bytes(range(256)), 76) + b'\r\n',
        seed=0xdeadbeef)
    put(t, 'line-4096', base64.b64encode(b'x' * 3072) + b'\r\n' +
        base64.b64encode(b'y' * 30) + b'\r\n', seed=4096)


def qp(raw, width=76):
    import quopri
    return quopri.encodestring(raw).replace(b'\n', b'\r\n')


def codec_qp():
    t = 'codec-qp'
    html = ('<html><head><meta http-equiv="Content-Type" content="text/html;'
            ' charset=utf-8"></head><body><p class="MsoNormal">Hi Bob,'
            '<o:p></o:p></p><p>The quarterly figures \u2013 see attached '
            '\u201creport\u201d.</p></body></html>\r\n').encode()
    put(t, 'outlook-html', qp(html), seed=3)
    put(t, 'thunderbird-flowed',
        b'Hi,\r\n\r\nthis is a long line that Thunderbird wraps at seventy-'
        b'two char=\r\nacters with format=3Dflowed and a trailing space =\r\n'
        b'\r\nCaf=C3=A9 cr=C3=A8me br=C3=BBl=C3=A9e\r\n-- =\r\nAlice\r\n',
        seed=6)
    put(t, 'ios-quotes', b'It=E2=80=99s fine =E2=80=94 see you=\r\n soon.'
        b'\r\n\r\nSent from my iPhone', seed=9)
    put(t, 'lowercase-hex', b'caf=c3=a9 =3d=3D =e2=82=ac\r\n', seed=12)
    put(t, 'broken-escapes', b'a=Z1b=4 c=\rd=\r\r\n=\n=\r\n=', seed=15)
    put(t, 'trailing-ws', b'tab\t \r\nspace \r\nend =20\r\n  ', seed=18)
    put(t, 'binary', qp(bytes(range(256)) * 2), seed=21)
    put(t, 'soft-lf', b'long=\nline=\r\nend=', seed=24)
    put(t, 'canonical-76', qp(TEXT * 6), seed=27)
    put(t, 'dot-lines', b'.\r\n..\r\n=2E\r\nFrom me\r\n=46rom you\r\n',
        seed=30)
    put(t, 'empty', b'', seed=0)


def mime_rfc2047():
    t = 'mime-rfc2047'
    vals = {
        'utf8-b-emoji': '=?UTF-8?B?8J+YgCBUZXN0?=',
        'latin1-q-name': '=?iso-8859-1?Q?Andr=E9?= Pirard',
        'rfc-examples': '(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=) '
                        '(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=) '
                        '(=?ISO-8859-1?Q?a_b?=) (=?ISO-8859-1?Q?a?= b)',
        'iso-2022-jp': '=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= subject',
        'outlook-folded': '=?utf-8?B?UmU6IFF1YXJ0YWxzYmVyaWNodCDigJMg?=\r\n'
                          ' =?utf-8?B?ZsO8ciBkaWUgR2VzY2jDpGZ0c2bDvGhydW5n?=',
        'split-multibyte': '=?UTF-8?B?4oI=?= =?UTF-8?B?rA==?= euro',
        'windows-1252': '=?Windows-1252?Q?=93quoted=94_=96_dash?=',
        'gb2312': '=?gb2312?B?1tC5+g==?= =?GBK?B?1tC5+g==?=',
        'ks-c-5601': '=?ks_c_5601-1987?B?x9GxuQ==?=',
        'big5': '=?big5?B?pKSk5Q==?=',
        'koi8-r': '=?koi8-r?B?8NLJ18XU?=',
        'lang-suffix': '=?utf-8*en-US?Q?hello_world?=',
        'malformed': '=?utf-8?X?abc?= =?utf-8?Q?a b?= =?utf-8?B?@@@?= '
                     '=?=?utf-8?Q?x?=?= =? =?? =?utf-8??= =?utf-8?q?',
        'raw-8bit': 'Gr\xfc\xdfe aus M\xfcnchen =?utf-8?q?und_K=C3=B6ln?=',
        'raw-utf8': 'Grüße – ✓ =?utf-8?q?ok?=',
        'mixed-charsets': '=?iso-8859-1?q?=E9?==?utf-8?q?=C3=A9?= '
                          '=?utf-7?B?K0FPay0=?=',
        'unknown-charset': '=?x-unknown?Q?=FF?= =?bogus-cs?B?/w==?=',
        'nul': '=?utf-8?Q?a=00b?= c\x00d',
        'long-adjacent': ' '.join(['=?UTF-8?B?w6TDtsO8?='] * 200),
    }
    for i, (name, v) in enumerate(vals.items()):
        put(t, name, v, seed=i * 0x01010101)


def mime_address():
    t = 'mime-address'
    vals = {
        'thunderbird': '"Doe, John" <john.doe@example.com>, '
                       'Jane Roe <jane@example.org>',
        'outlook': "'Smith, Mary' <mary.smith@contoso.com>; "
                   '"Bob (IT)" <bob@contoso.com>',
        'ios': '=?utf-8?Q?Fran=C3=A7ois_Dupont?= <francois@icloud.com>',
        'mutt-comment': 'alice@example.net (Alice Liddell)',
        'group': 'A Group:Ed Jones <c@a.test>,joe@where.test,'
                 'John <jdoe@one.test>;, Undisclosed recipients:;',
        'undisclosed': 'undisclosed-recipients:;',
        'route': 'Mary Smith <@machine.tld,@relay.test:mary@example.net>',
        'rfc-comments': 'Pete(A nice \\) chap) <pete(his account)@silly.test'
                        '(his host)>',
        'quoted-local': '"john..doe"@example.com, "a@b"@c.test, '
                        '"\\"q\\""@x.test',
        'literal': 'postmaster@[192.0.2.1], root@[IPv6:2001:db8::1]',
        'obs-spaces': 'John Q. Public <JQB @ bar . com>, a . b @ c . d',
        'garbage': '<<>>,,;;::"unterminated <x@y, (open comment <z@w>',
        'nested-groups': 'g1: a@b, g2: c@d; e@f;',
        'unicode': 'Jürgen Groß <jürgen@bücher.example>',
        'many': ', '.join('user%d@example.com' % i for i in range(60)),
        'empty': '',
        'bare-angle': '<>, < >, <@>',
        'crlf-folded': 'Alice <alice@example.com>,\r\n Bob\r\n\t<bob@'
                       'example.com>',
    }
    for i, (name, v) in enumerate(vals.items()):
        put(t, name, v, seed=i * 7 + 3)


def mime_date():
    t = 'mime-date'
    vals = {
        'rfc5322': 'Fri, 21 Nov 1997 09:55:06 -0600',
        'rfc5322-nodow': '21 Nov 1997 10:01:22 -0600',
        'obs-2digit': '7 Feb 94 21:52:25 -0800 (PST)',
        'obs-comments': 'Thu,\r\n      13\r\n        Feb\r\n          1969\r\n'
                        '      23:32\r\n               -0330 (Newfoundland '
                        'Time)',
        'obs-cfws': 'Fri, 21 Nov 1997 09(comment):   55  :  06 -0600',
        'asctime': 'Mon Feb  7 21:52:25 1994',
        'thunderbird': 'Tue, 24 Nov 2026 09:05:00 +0100',
        'outlook': 'Tue, 24 Nov 2026 08:05:00 +0000',
        'ios': 'Mon, 23 Nov 2026 21:00:00 -0800',
        'mutt': 'Mon, 23 Nov 2026 22:14:33 +0200',
        'zones': '1 Jan 2000 00:00 EDT',
        'military': '1 Jan 2000 00:00:00 Z',
        'leap-second': 'Sat, 31 Dec 2016 23:59:60 +0000',
        'feb29': '29 Feb 2000 12:00:00 +1400',
        'bad-feb29': '29 Feb 1900 12:00:00 +0000',
        'year-9999': '31 Dec 9999 23:59:59 -9959',
        'year-0001': '1 Jan 0001 00:00:00 +9959',
        'garbage': '32 Foo 20x 25:61:61 +99999',
        'dashes': '21-Nov-1997 09:55:06 GMT',
        'many-digits': '000000000000021 Nov 000000001997 9:5:6 +0000',
        'three-digit-year': '1 Jan 101 00:00:00 +0000',
    }
    for i, (name, v) in enumerate(vals.items()):
        put(t, name, v, prefix=8, seed=i * 0x9e3779b9)


def sasl():
    t = 'sasl'
    b = base64.b64encode
    put(t, 'plain-thunderbird', b(b'\x00alice@example.test\x00correct horse'),
        seed=0)
    put(t, 'plain-authzid', b(b'admin@example.test\x00alice@example.test'
                                b'\x00s3cret!'), seed=5)
    put(t, 'plain-outlook-utf8', b('\x00jürgen@example.test\x00pässwörd'
                                     .encode()), seed=9)
    put(t, 'login-user', b(b'alice@example.test'), seed=1)
    put(t, 'login-pass', b(b'correct horse battery staple'), seed=3)
    put(t, 'empty-response', b'=', seed=2)
    put(t, 'no-padding', b(b'\x00u\x00p').rstrip(b'='), seed=4)
    put(t, 'three-nuls', b(b'\x00u\x00p\x00q'), seed=6)
    put(t, 'long-id', b(b'\x00' + b'u' * 321 + b'\x00pw'), seed=7)
    put(t, 'long-pass', b(b'\x00u\x00' + b'p' * 1025), seed=8)
    put(t, 'max-plain', b(b'z' * 320 + b'\x00' + b'u' * 320 + b'\x00' +
                          b'p' * 1024), seed=10)
    put(t, 'whitespace', b'AHUA cA==', seed=11)
    put(t, 'cancel', b'*', seed=12)


def config():
    t = 'config'
    with open(sys.argv[1] if len(sys.argv) > 1 else '/dev/null', 'rb') as f:
        init = f.read()
    if init:
        put(t, 'despatch-init', init, prefix=0)
    base = ('listeners = ({ kind = "smtp"; address = "127.0.0.1"; '
            'port = 25; });\n')
    vals = {
        'minimal': base,
        'ipv6': 'listeners = ({ kind = "smtp"; address = "::1"; port = 25; },'
                ' { kind = "imap"; address = "::"; port = 143; });\n',
        'routes': base + 'outbound = { smarthost = "[192.0.2.1]:587"; '
                  'routes = ( { domain = "Example.ORG"; host = '
                  '"mx.example.org:2525"; }, { domain = "b.test"; host = '
                  '"[2001:db8::1]"; } ); };\n',
        'limits': base + 'smtp = { max_message_size = "10M"; max_recipients '
                  '= 1000; max_errors = 1; timeout_seconds = 10; '
                  'reject_bare_lf = true; };\nimap = { quota_bytes = "1G"; '
                  'quota_messages = 1000000000; login_timeout_seconds = 10; };'
                  '\n',
        'over-cap': base + 'smtp = { max_message_size = "2G"; max_recipients '
                    '= 1001; };\n',
        'unknown': base + 'smtp = { bind = 1; };\nfoo = "bar";\n',
        'dup-listener': 'listeners = ({ kind = "smtp"; address = "0.0.0.0"; '
                        'port = 25; }, { kind = "smtp"; address = "0.0.0.0"; '
                        'port = 25; });\n',
        'bad-syntax': 'listeners = ({ kind = "smtp"; address = "0.0.0.0" '
                      'port = 25 };\n',
        'types': base + 'smtp = { max_recipients = "ten"; timeout_seconds = '
                 '1.5; reject_bare_lf = 1; };\nqueue = { lifetime_seconds = '
                 '0x10000L; };\n',
        'strings': base + 'hostname = "a\\"b\\\\c\\x41";\ntls = { cert = '
                   '"/abs/cert.pem"; key = "rel/key.pem"; };\n',
        'unterminated': 'hostname = "mx',
    }
    for name, v in vals.items():
        put(t, name, v, prefix=0)


def mime_rfc2231():
    t = 'mime-rfc2231'
    # seed % 6 picks the name: 0 filename, 1 name, 2 title, 3 charset,
    # 4 boundary, 5 url
    vals = [
        ('rfc-url', 5, 'message/external-body; access-type=URL;\r\n'
         ' URL*0="ftp://";\r\n URL*1="cs.utk.edu/pub/moore/bulk-mailer/'
         'bulk-mailer.tar"'),
        ('rfc-title', 2, "application/x-stuff;\r\n title*=us-ascii'en-us'"
         "This%20is%20%2A%2A%2Afun%2A%2A%2A"),
        ('rfc-mixed', 2, "application/x-stuff;\r\n title*0*=us-ascii'en'"
         "This%20is%20even%20more%20;\r\n title*1*=%2A%2A%2Afun%2A%2A%2A"
         "%20;\r\n title*2=\"isn't it!\""),
        ('thunderbird', 0, "attachment;\r\n filename*0*=UTF-8''Bericht%20"
         "%C3;\r\n filename*1*=%BCber%20das%20Jahr%202026.pdf"),
        ('outlook', 0, 'attachment; filename="Q3 figures.xls";\r\n'
         "\tfilename*=utf-8''Q3%20%E2%80%93%20figures.xls; size=12;\r\n"
         '\tcreation-date="Tue, 24 Nov 2026 08:04:00 GMT"'),
        ('outlook-2047-name', 1, 'application/pdf;\r\n\tname="=?utf-8?B?'
         'UmVjaG51bmcgTsKwIDQ3MTEucGRm?="'),
        ('apple-latin1', 0, "inline; filename*=iso-8859-1''Gr%FC%DFe.txt"),
        ('mutt', 0, "attachment; filename*=UTF-8''fix%20%C3%A9.diff"),
        ('ios-name', 1, 'image/jpeg; name="IMG_0042.jpeg"; x-apple-part-url='
         '"E3A1B2C4-1234-4567-89AB-CDEF01234567"'),
        ('charset-plain', 3, 'text/plain; charset="utf-8"; format=flowed; '
         'delsp=yes'),
        ('boundary-cont', 4, 'multipart/mixed; boundary*0="----=_Part_";\r\n'
         ' boundary*1="1234_5678.1700000000000"'),
        ('out-of-order', 0, 'attachment; filename*2=c; filename*0=a; '
         'filename*1=b; filename*1=X; filename=fallback'),
        ('gap', 0, 'attachment; filename*0=a; filename*2=c'),
        ('huge-section', 0, 'attachment; filename*0=a; filename*99=b; '
         'filename*100=c; filename*99999999999999999999=d'),
        ('broken-escapes', 0, "attachment; filename*=utf-8''100%; "
         "filename*0*=%zz%4; filename*1*=%"),
        ('comments-quotes', 3, 'text/plain (c) ; (x) charset = (y) '
         '"us\\"-ascii" (z); (unterminated'),
        ('iso-2022-jp', 0, "attachment; filename*=iso-2022-jp'ja'%1B%24B"
         "%25F%259%25H%1B%28B.txt"),
        ('many-sections', 0, 'attachment' + ''.join(
            '; filename*%d*=%%E2%%82%%AC' % i for i in range(100))),
    ]
    for name, n, v in vals:
        put(t, name, v, seed=n + 6 * 0x2345)


def session(target, name, mode, lines, seed=0):
    """A session seed: the mode byte, the 4-byte split seed (0: the whole
    input at once; seed % 4 != 0: pieces of 1 + seed % 64 bytes), then
    the client's bytes."""
    data = bytes([mode]) + struct.pack('<I', seed)
    for ln in lines:
        data += ln if isinstance(ln, bytes) else ln.encode()
    put(target, name, data, prefix=0)


def crlf(text):
    return text.replace('\n', '\r\n')


B64 = lambda x: base64.b64encode(x if isinstance(x, bytes) else x.encode()
                                 ).decode()
PLAIN_OK = B64('\0alice@example.test\0secret')

MSG_TB = crlf("""Message-ID: <5c1d2e3f-0a1b-4c2d-9e8f-0123456789ab@example.test>
Date: Mon, 23 Nov 2026 21:14:05 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: en-US
To: Bob <bob@remote.test>
From: Alice <alice@example.test>
Subject: =?UTF-8?Q?Caf=c3=a9_tomorrow=3f?=
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

Hi Bob,

see you at the café.
..leading dot, stuffed
-- 
Alice
""")

MSG_OUTLOOK = crlf("""From: "Smith, Mary" <alice@example.test>
To: "bob@remote.test" <bob@remote.test>
Subject: Quarterly figures
Thread-Topic: Quarterly figures
Thread-Index: AdnGQ2xyZ3R5dGVzdA==
Date: Tue, 24 Nov 2026 08:05:00 +0000
Message-ID: <DB9PR01MB1234ABCD@DB9PR01MB1234.eurprd01.prod.exchangelabs.com>
Accept-Language: en-GB, en-US
Content-Language: en-GB
X-MS-Has-Attach: yes
X-MS-TNEF-Correlator:
Content-Type: multipart/mixed;
	boundary="_004_DB9PR01MB1234_"
MIME-Version: 1.0

--_004_DB9PR01MB1234_
Content-Type: text/html; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

<html><body><p class=3D"MsoNormal">Figures =96 attached.</p></body></html>

--_004_DB9PR01MB1234_
Content-Type: application/vnd.ms-excel; name="Q3 figures.xls"
Content-Description: Q3 figures.xls
Content-Disposition: attachment; filename="Q3 figures.xls"; size=12;
	creation-date="Tue, 24 Nov 2026 08:04:00 GMT"
Content-Transfer-Encoding: base64

0M8R4KGxGuEAAAAA

--_004_DB9PR01MB1234_--
""")

MSG_IOS = crlf("""Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable
From: Alice <alice@example.test>
Mime-Version: 1.0 (1.0)
Date: Mon, 23 Nov 2026 21:00:00 -0800
Subject: Re: Coffee
Message-Id: <A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF@example.test>
References: <1@remote.test>
In-Reply-To: <1@remote.test>
To: Bob <bob@remote.test>
X-Mailer: iPhone Mail (22B91)

It=E2=80=99s fine =E2=80=94 see you soon.

Sent from my iPhone
""")

MSG_MUTT = crlf("""Date: Mon, 23 Nov 2026 22:14:33 +0200
From: Alice <alice@example.test>
To: bob@remote.test, carol@example.test
Subject: patch
Message-ID: <20261123201433.GA1234@host.example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mutt-b0undary"
Content-Disposition: inline
User-Agent: Mutt/2.2.9 (2022-11-12)

--mutt-b0undary
Content-Type: text/plain; charset=us-ascii
Content-Disposition: inline

Patch attached.

--mutt-b0undary
Content-Type: text/x-diff; charset=us-ascii
Content-Disposition: attachment; filename*=UTF-8''fix%20%C3%A9.diff

--- a/x
+++ b/x
@@ -1 +1 @@
-a
+b

--mutt-b0undary--
""")

MSG_MX = crlf("""Received: from mail.remote.test (mail.remote.test [192.0.2.7])
	by relay.remote.test (Postfix) with ESMTPS id 4ABCD1234
	for <alice@example.test>; Mon, 23 Nov 2026 09:00:00 +0000 (UTC)
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=remote.test;
	s=2026; h=from:to:subject:date; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;
	b=dGVzdA==
From: Bob Example <bob@remote.test>
To: alice@example.test
Subject: =?iso-8859-1?Q?Gr=FC=DFe?=
Date: Mon, 23 Nov 2026 09:00:00 +0000
Message-ID: <1@remote.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: 8bit

Grüße aus München.
.
""".replace('.\n', '', 0))


def smtp_session():
    t = 'smtp-session'
    sub, mx = 1, 0
    session(t, 'thunderbird-submission', sub, [crlf(
        'EHLO [192.168.1.10]\nAUTH PLAIN %s\n'
        'MAIL FROM:<alice@example.test> SIZE=%d BODY=8BITMIME\n'
        'RCPT TO:<bob@remote.test>\nDATA\n' % (PLAIN_OK, len(MSG_TB.encode()))),
        MSG_TB, crlf('.\nQUIT\n')])
    session(t, 'outlook-submission-login', sub, [crlf(
        'EHLO DESKTOP-7Q1ABCD\nAUTH LOGIN\n%s\n%s\n'
        'MAIL FROM:<alice@example.test>\nRCPT TO:<bob@remote.test>\n'
        'RCPT TO:<alice@example.test>\nDATA\n' % (
            B64('alice@example.test'), B64('secret'))),
        MSG_OUTLOOK, crlf('.\nQUIT\n')], seed=5)
    session(t, 'ios-submission-bdat', sub, [crlf(
        'EHLO [127.0.0.1]\nAUTH PLAIN %s\n'
        'MAIL FROM:<alice@example.test> SIZE=%d\n'
        'RCPT TO:<bob@remote.test>\n' % (PLAIN_OK, len(MSG_IOS))),
        'BDAT %d\r\n' % 100, MSG_IOS[:100],
        'BDAT %d LAST\r\n' % (len(MSG_IOS) - 100), MSG_IOS[100:],
        crlf('QUIT\n')])
    session(t, 'mutt-submission-pipelined', sub, [crlf(
        'EHLO host.example.test\nAUTH PLAIN\n%s\n'
        'MAIL FROM:<alice@example.test> RET=HDRS ENVID=QQ314159\n'
        'RCPT TO:<bob@remote.test> NOTIFY=SUCCESS,DELAY '
        'ORCPT=rfc822;bob@remote.test\n'
        'RCPT TO:<carol@example.test> NOTIFY=NEVER\nDATA\n' % PLAIN_OK),
        MSG_MUTT, crlf('.\nRSET\nNOOP\nQUIT\n')], seed=3)
    session(t, 'submission-auth-failures', sub, [crlf(
        'EHLO x\nMAIL FROM:<alice@example.test>\nAUTH PLAIN %s\n'
        'AUTH LOGIN\n*\nAUTH LOGIN %s\n%s\nAUTH CRAM-MD5\n'
        'AUTH PLAIN =\nAUTH PLAIN %s\nMAIL FROM:<mallory@evil.test>\n'
        'MAIL FROM:<alice@example.test>\nRCPT TO:<x@remote.test>\n'
        'QUIT\n' % (B64('\0alice@example.test\0wrong'),
                     B64('bob@example.test'), B64('guess'), PLAIN_OK))],
        seed=7)
    session(t, 'mx-postfix-relay', mx, [crlf(
        'EHLO mail.remote.test\nMAIL FROM:<bob@remote.test> SIZE=%d '
        'BODY=8BITMIME\nRCPT TO:<alice@example.test> NOTIFY=SUCCESS,'
        'FAILURE ORCPT=rfc822;alice@example.test\n'
        'RCPT TO:<postmaster@example.test>\nDATA\n' % len(MSG_MX)),
        MSG_MX, crlf('.\nQUIT\n')])
    session(t, 'mx-pipelined-transactions', mx, [crlf(
        'EHLO mail.remote.test\nMAIL FROM:<>\nRCPT TO:<alice@example.test>\n'
        'DATA\nSubject: bounce\n\nundeliverable\n.\n'
        'MAIL FROM:<bob@remote.test>\nRCPT TO:<nobody@example.test>\n'
        'RCPT TO:<alice@example.test>\nRSET\nVRFY alice\nEXPN staff\n'
        'HELP\nNOOP hello\nHELO again.test\n'
        'MAIL FROM:<bob@remote.test>\nRCPT TO:<ALICE@EXAMPLE.TEST>\n'
        'DATA\n\n.\nQUIT\n')], seed=4)
    session(t, 'mx-smuggling-variants', mx, [
        'EHLO evil.test\r\nMAIL FROM:<a@evil.test>\r\n'
        'RCPT TO:<alice@example.test>\r\nDATA\r\n'
        'Subject: s\r\n\r\nx\n.\nMAIL FROM:<admin@example.test>\n'
        'x\r.\r\nx\r\n.\nx\n.\r\nRCPT TO:<alice@example.test>\r\n'
        'x\r\n\x00.\r\n\r\n.\r\nQUIT\r\n'], seed=8)
    session(t, 'mx-bare-lf-commands', mx, [
        'EHLO a\nMAIL FROM:<a@b>\r\nRCPT TO:<alice@example.test>\r\r\n'
        'NOOP\x00\r\nQUIT\r\n'], seed=2)
    session(t, 'mx-errors-until-close', mx, [
        'EHLO x\r\n' + ''.join('BOGUS %d\r\n' % i for i in range(12)) +
        'QUIT\r\n'], seed=9)
    session(t, 'mx-long-line', mx, [
        'EHLO ' + 'a' * 3000 + '\r\nMAIL FROM:<' + 'b' * 600 +
        '@remote.test>\r\nRCPT TO:<alice@example.test>\r\nQUIT\r\n'],
        seed=12)
    session(t, 'mx-bdat', mx, [
        'EHLO mail.remote.test\r\nMAIL FROM:<bob@remote.test>\r\n'
        'RCPT TO:<alice@example.test>\r\nBDAT 20\r\nSubject: chunk\r\n\r\n'
        'hiBDAT 9\r\n 12345\r\nBDAT 0 LAST\r\nDATA\r\nBDAT x\r\n'
        'MAIL FROM:<bob@remote.test>\r\nRCPT TO:<alice@example.test>\r\n'
        'BDAT 4 LAST\r\nabcdQUIT\r\n'], seed=6)
    session(t, 'mx-relay-tricks', mx, [crlf(
        'EHLO relay.test\nMAIL FROM:<x@relay.test>\n'
        'RCPT TO:<bob%remote.test@example.test>\n'
        'RCPT TO:<remote.test!bob@example.test>\n'
        'RCPT TO:<@example.test:bob@remote.test>\n'
        'RCPT TO:<"bob@remote.test"@example.test>\n'
        'RCPT TO:<alice@[127.0.0.1]>\nRCPT TO:<bob@remote.test>\n'
        'RCPT TO:<"alice"@example.test>\nRCPT TO:alice@example.test\n'
        'RCPT TO:<alice@example.test.>\nQUIT\n')], seed=10)
    session(t, 'mx-smtputf8', mx, [
        crlf('EHLO b\u00fccher.example\nMAIL FROM:<j\u00fcrgen@b\u00fccher'
             '.example> SMTPUTF8\nRCPT TO:<alice@example.test>\nDATA\n'
             'Subject: Gr\u00fc\u00dfe\n\n\u2713\n.\nQUIT\n')], seed=11)
    session(t, 'mx-starttls-injection', mx, [
        'EHLO x\r\nSTARTTLS\r\nMAIL FROM:<a@b.test>\r\nQUIT\r\n'],
        seed=13)
    session(t, 'mx-xtext-params', mx, [crlf(
        'EHLO x\nMAIL FROM:<a@b.test> ENVID=a+2Bb+0D+0Ac RET=FULL '
        'AUTH=<> SIZE=99999999999999999999\nMAIL FROM:<a@b.test> '
        'SIZE=1024 X=Y\nRCPT TO:<alice@example.test> ORCPT=rfc822;'
        'a+0D+0AInjected:+20x NOTIFY=SUCCESS,NEVER\nQUIT\n')], seed=14)
    session(t, 'mx-no-quit', mx, ['EHLO x\r\nMAIL FROM:<a@b.test>\r\n'
                                  'RCPT TO:<alice@example.test>\r\nDATA\r\n'
                                  'Subject: cut\r\n\r\npartial'], seed=15)


def imap_session():
    t = 'imap-session'
    pre, authed = 0, 1
    session(t, 'thunderbird', pre, [crlf(
        '1 capability\n2 login "alice@example.test" "secret"\n'
        '3 ID ("name" "Thunderbird" "version" "128.5.0")\n'
        '4 list (subscribed) "" "*" return (special-use)\n'
        '5 select "INBOX" (CONDSTORE)\n'
        '6 UID fetch 1:* (FLAGS)\n'
        '7 UID fetch 1:4 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS '
        '(From To Cc Bcc Subject Date Message-ID Priority X-Priority '
        'References Newsgroups In-Reply-To Content-Type Reply-To)])\n'
        '8 UID fetch 2 (UID RFC822.SIZE BODY.PEEK[])\n'
        '9 IDLE\nDONE\n10 UID store 1 +FLAGS (\\Seen)\n'
        '11 logout\n')])
    session(t, 'ios-mail', pre, [crlf(
        '1 ID ("name" "iPhone Mail" "version" "22B91" "os" "iOS")\n'
        '2 AUTHENTICATE PLAIN %s\n3 ENABLE QRESYNC\n'
        '4 SELECT INBOX (QRESYNC (1 1 1:4))\n'
        '5 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\n'
        '6 UID FETCH 2 (BODYSTRUCTURE BINARY.PEEK[2] BINARY.SIZE[2])\n'
        '7 UID SEARCH RETURN (MIN MAX COUNT) UNSEEN\n'
        '8 NOOP\n9 LOGOUT\n' % PLAIN_OK)], seed=5)
    session(t, 'mbsync', pre, [crlf(
        'A1 CAPABILITY\nA2 LOGIN {18}\n'), 'alice@example.test',
        crlf(' {6}\n'), 'secret', crlf(
        '\nA3 LIST "" "*"\nA4 CREATE Archive/2026\n'
        'A5 SELECT INBOX\nA6 UID FETCH 1:* (UID FLAGS)\n'
        'A7 APPEND INBOX (\\Seen) "23-Nov-2026 21:14:05 +0100" {%d+}\n'
        % len(MSG_TB.encode())), MSG_TB, crlf(
        '\nA8 UID STORE 3 +FLAGS.SILENT (\\Deleted)\nA9 UID EXPUNGE 3\n'
        'A10 RENAME Archive/2026 Archive/old\nA11 DELETE Archive/old\n'
        'A12 LOGOUT\n')], seed=3)
    session(t, 'outlook', pre, [crlf(
        'AAAA CAPABILITY\nBBBB LOGIN alice@example.test secret\n'
        'CCCC LIST "" "*"\nDDDD SELECT "INBOX"\n'
        'EEEE FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE '
        'BODY.PEEK[HEADER])\nFFFF STATUS "Sent" (MESSAGES UNSEEN UIDNEXT '
        'UIDVALIDITY)\nGGGG UID FETCH 3 (BODY.PEEK[1] BODY.PEEK[2.MIME])\n'
        'HHHH CHECK\nIIII CLOSE\nJJJJ LOGOUT\n')], seed=9)
    session(t, 'mutt-authed', authed, [crlf(
        'a0001 SELECT INBOX\na0002 FETCH 1:4 (UID FLAGS INTERNALDATE '
        'RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM SENDER SUBJECT TO '
        'CC MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION '
        'IN-REPLY-TO REPLY-TO LINES LIST-POST X-LABEL)])\n'
        'a0003 UID FETCH 4 BODY.PEEK[2.HEADER]\n'
        'a0004 UID FETCH 2 (BODY[1]<0.10> BINARY[2] BODY[TEXT])\n'
        'a0005 UID SORT (REVERSE DATE) UTF-8 ALL\n'
        'a0006 UID THREAD REFERENCES UTF-8 ALL\n'
        'a0007 SEARCH CHARSET UTF-8 SUBJECT "caf\u00e9" OR FROM bob '
        'NOT (SEEN LARGER 100)\na0008 UID COPY 1:2 Trash\n'
        'a0009 UID MOVE 4 Archive\na0010 GETQUOTAROOT INBOX\n'
        'a0011 STORE 1 FLAGS.SILENT (\\Flagged $Label1)\n'
        'a0012 EXPUNGE\na0013 UNSELECT\na0014 LOGOUT\n')], seed=4)
    session(t, 'authed-mailboxes', authed, [crlf(
        'm1 NAMESPACE\nm2 LIST "" "%"\nm3 CREATE "&AOk-t&AOk-"\n'
        'm4 CREATE Work (USE (\\Archive))\nm5 SUBSCRIBE Work\n'
        'm6 LSUB "" "*"\nm7 STATUS INBOX (MESSAGES RECENT SIZE '
        'HIGHESTMODSEQ)\nm8 EXAMINE INBOX\nm9 FETCH 1:* FULL\n'
        'm10 FETCH * (PREVIEW ENVELOPE)\nm11 SELECT Work\n'
        'm12 APPEND Work {11}\nSubject: x\n\n'
        'm13 UNSUBSCRIBE Work\nm14 DELETE Work\nm15 LOGOUT\n')], seed=6)
    session(t, 'preauth-errors', pre, [crlf(
        '\n* BAD\nx SELECT INBOX\nx LOGIN a\nx LOGIN nobody@example.test '
        'pw\nx AUTHENTICATE PLAIN\n*\nx AUTHENTICATE XOAUTH2 abc\n'
        'x LOGIN alice@example.test {5000}\nx NOOP (((((((((\n'
        'x STARTTLS\nx LOGOUT\n')], seed=7)
    session(t, 'authed-parser-edges', authed, [
        'p1 SELECT INBOX\r\np2 FETCH 1 (BODY[]<0.5>)\r\n'
        'p3 SEARCH ' + '(' * 50 + 'ALL' + ')' * 50 + '\r\n'
        'p4 UID FETCH 1:*,*:1,2:3 (FLAGS)\r\np5 FETCH 0 FLAGS\r\n'
        'p6 STORE $ +FLAGS (\\Seen)\r\np7 SEARCH RETURN (SAVE) ALL\r\n'
        'p8 FETCH $ (UID)\r\np9 APPEND INBOX {3}\r\nabc\r\n'
        'p10 APPEND INBOX ~{4+}\r\na\x00b\n\r\n'
        'p11 FETCH 1 BODY[1.2.3.4.MIME]\r\np12 COMPRESS DEFLATE\r\n'], seed=8)
    session(t, 'authed-idle-logout', authed, [crlf(
        't1 SELECT INBOX\nt2 IDLE\nDONE\nt3 ENABLE UTF8=ACCEPT CONDSTORE\n'
        't4 SELECT INBOX (CONDSTORE)\nt5 FETCH 1:* (MODSEQ) (CHANGEDSINCE 0)\n'
        't6 UID EXPUNGE 1:*\nt7 LOGOUT\n')], seed=0)


codec_base64()
codec_qp()
mime_rfc2047()
mime_rfc2231()
mime_address()
mime_date()
sasl()
config()
smtp_session()
imap_session()
