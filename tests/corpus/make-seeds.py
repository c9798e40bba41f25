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


codec_base64()
codec_qp()
mime_rfc2047()
mime_address()
mime_date()
sasl()
config()
