#!/usr/bin/env python3
"""Writes the committed seed corpora of the pgwire fuzz targets.

Run from the repository root: python3 fuzz/pgwire/make_seed_corpus.py
Each frontend/backend seed is one control byte (bits 0-3: chunk size, 0 = all at once;
bit 4: frontend = start after startup, backend = expect an 'S'/'N' byte first) + a byte stream.
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")


def be16(v):
    return struct.pack(">H", v & 0xFFFF)


def be32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def cstr(s):
    return (s.encode() if isinstance(s, str) else s) + b"\0"


def typed(t, body):
    return t.encode() + be32(len(body) + 4) + body


def untyped(body):
    return be32(len(body) + 4) + body


SSL = be32(8) + be32(80877103)
GSS = be32(8) + be32(80877104)
CANCEL = be32(16) + be32(80877102) + be32(1234) + be32(5678)
STARTUP = untyped(be32(196608) + cstr("user") + cstr("lambda_writer") + cstr("database")
                  + cstr("app") + cstr("application_name") + cstr("psql") + b"\0")
STARTUP_32 = untyped(be32(0x00030002) + cstr("user") + cstr("u") + cstr("_pq_.x") + cstr("1") + b"\0")

QUERY = typed("Q", cstr("INSERT INTO foo.t VALUES (1)"))
PARSE = typed("P", cstr("s1") + cstr("SELECT $1") + be16(1) + be32(23))
BIND = typed("B", cstr("") + cstr("s1") + be16(1) + be16(1) + be16(2) + be32(4) + b"\0\0\0\x2a"
             + be32(-1) + be16(1) + be16(0))
DESCRIBE = typed("D", b"P" + cstr(""))
EXECUTE = typed("E", cstr("") + be32(0))
SYNC = typed("S", b"")
FLUSH = typed("H", b"")
CLOSE = typed("C", b"S" + cstr("s1"))
FUNCALL = typed("F", be32(1598) + be16(1) + be16(0) + be16(1) + be32(3) + b"abc" + be16(0))
COPYDATA = typed("d", b"1\tx\n")
COPYDONE = typed("c", b"")
COPYFAIL = typed("f", cstr("stop"))
PASSWORD = typed("p", cstr("token"))
SASL_INIT = typed("p", cstr("SCRAM-SHA-256") + be32(8) + b"n,,n=,r=")
SASL_RESP = typed("p", b"c=biws,r=abc,p=xyz")
TERMINATE = typed("X", b"")

frontend = {
    "ssl_then_startup": bytes([0]) + SSL + STARTUP + PASSWORD + QUERY + TERMINATE,
    "gss_ssl_startup_bytewise": bytes([1]) + GSS + SSL + STARTUP + PASSWORD,
    "cancel": bytes([0]) + CANCEL,
    "startup_3_2": bytes([3]) + STARTUP_32 + SASL_INIT + SASL_RESP,
    "extended_query": bytes([0x10]) + PARSE + BIND + DESCRIBE + EXECUTE + SYNC + FLUSH + CLOSE + SYNC,
    "copy_in": bytes([0x15]) + QUERY + COPYDATA + COPYDATA + COPYDONE + COPYFAIL,
    "function_call": bytes([0x10]) + FUNCALL + TERMINATE,
    "bad_version": bytes([0]) + untyped(be32(0x00020000) + b"\0"),
    "bad_length": bytes([0x10]) + b"Q" + be32(2),
    "unknown_type": bytes([0x10]) + typed("Z", b"I"),
    "long_password": bytes([0x10]) + typed("p", cstr("a" * 5000)),
}

AUTH_OK = typed("R", be32(0))
AUTH_CLEAR = typed("R", be32(3))
AUTH_MD5 = typed("R", be32(5) + b"\x01\x02\x03\x04")
AUTH_SASL = typed("R", be32(10) + cstr("SCRAM-SHA-256-PLUS") + cstr("SCRAM-SHA-256") + b"\0")
AUTH_CONT = typed("R", be32(11) + b"r=abcdef,s=c2FsdA==,i=4096")
AUTH_FINAL = typed("R", be32(12) + b"v=c2ln")
KEYDATA = typed("K", be32(77) + be32(99))
PSTATUS = typed("S", cstr("server_version") + cstr("15.4"))
NPV = typed("v", be32(0) + be32(1) + cstr("_pq_.x"))
RFQ = typed("Z", b"I")
ERROR = typed("E", b"S" + cstr("FATAL") + b"V" + cstr("FATAL") + b"C" + cstr("28000")
              + b"M" + cstr("This RDS Proxy requires TLS connections.") + b"\0")
NOTICE = typed("N", b"S" + cstr("WARNING") + b"C" + cstr("01000") + b"M" + cstr("x") + b"\0")
NOTIFY = typed("A", be32(1) + cstr("chan") + cstr("payload"))
ROWDESC = typed("T", be16(1) + cstr("id") + be32(16384) + be16(1) + be32(23) + be16(4) + be32(-1) + be16(0))
DATAROW = typed("D", be16(2) + be32(1) + b"1" + be32(-1))
CMDC = typed("C", cstr("SELECT 1"))
PDESC = typed("t", be16(1) + be32(23))
COPYIN = typed("G", b"\0" + be16(1) + be16(0))
COPYOUT = typed("H", b"\1" + be16(1) + be16(1))
COPYBOTH = typed("W", b"\0" + be16(0))
FCR = typed("V", be32(2) + b"ok")

backend = {
    "ssl_yes_then_auth": bytes([0x10]) + b"S" + AUTH_CLEAR,
    "ssl_no": bytes([0x11]) + b"N" + AUTH_MD5,
    "ssl_old_server_error": bytes([0x10]) + ERROR,
    "login_scram": bytes([0]) + AUTH_SASL + AUTH_CONT + AUTH_FINAL + AUTH_OK + PSTATUS + KEYDATA + RFQ,
    "query_result_bytewise": bytes([1]) + ROWDESC + DATAROW + CMDC + RFQ,
    "extended": bytes([0]) + typed("1", b"") + typed("2", b"") + PDESC + typed("n", b"") + typed("s", b"")
    + typed("3", b"") + typed("I", b"") + RFQ,
    "copy": bytes([7]) + COPYIN + COPYOUT + typed("d", b"x") + typed("c", b"") + COPYBOTH,
    "async": bytes([0]) + NOTICE + NOTIFY + NPV + FCR + ERROR,
    "bad_rfq": bytes([0]) + typed("Z", b"X"),
    "bad_auth": bytes([0]) + typed("R", be32(6)),
    "huge_length": bytes([0]) + b"D" + be32(0x7FFFFFFF),
}

scram = {
    "rfc7677_like": b"r=fuzznonce%hvYDpWUa2RaTCAfuxFIlj,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=16\n"
                    b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    "server_error": b"r=fuzznonceX,s=c2FsdA==,i=1\ne=invalid-proof",
    "client_side": b"n,,n=,r=abc\nc=biws,r=abcsrv,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    "pg_secret": b"SCRAM-SHA-256$4096:q1UJUs/KQkTR9pvdtF6tww==$+VWU7GylZSYowyyf6GXQmsLai7urbTJ5uZKMHVMH/3s="
                 b":x5C3FPZ8o0DujCMZIRfMjXBrdfVOU5hbxxBGUR7EpZY=",
    "base64": b"Zm9vYmFy",
}

for name, seeds in (("pgwire_frontend", frontend), ("pgwire_backend", backend), ("pgwire_scram", scram)):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    for seed_name, data in seeds.items():
        with open(os.path.join(d, seed_name), "wb") as f:
            f.write(data)
    print(f"{name}: {len(seeds)} seeds")
