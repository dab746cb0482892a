#!/usr/bin/python3
"""Writes the SigV4 intermediates of every case folder with botocore, an independent signer.

Each folder holds the inputs (context.json, request.txt) and the expected signed request
(header-signed-request.txt) copied from awslabs/aws-c-auth tests/aws-signing-test-suite/v4.
This script recomputes the header-signing intermediates with botocore (the one bundled with
the Debian awscli package), refuses to write anything unless botocore's signature equals the
aws-c-auth one, and then writes:

  header-canonical-request.txt  header-string-to-sign.txt  header-signature.txt
  query-canonical-request.txt   query-string-to-sign.txt   query-signature.txt
  query-signed-request.txt      (presigned, X-Amz-Expires from context.json)

Run it under a frozen clock at the suite's time (botocore reads the clock itself):
  TZ=UTC faketime -f '2015-08-30 12:36:00' /usr/bin/python3 make_intermediates.py
The C++ tests (tests/sigv4/sigv4_suite_test.cc) check every one of these files.
"""
import hashlib
import json
import os
import re
import sys
from urllib.parse import quote, unquote

sys.path.insert(0, "/usr/lib/python3/dist-packages/awscli")
from botocore.auth import SigV4Auth, SigV4QueryAuth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402


def recording(base, normalize):
    class Recording(base):
        def canonical_request(self, request):
            self.creq = super().canonical_request(request)
            return self.creq

        def string_to_sign(self, request, creq):
            self.sts = super().string_to_sign(request, creq)
            return self.sts

        def signature(self, sts, request):
            self.sig = super().signature(sts, request)
            return self.sig

        def _normalize_url_path(self, path):
            if normalize:
                return super()._normalize_url_path(path)
            return quote(path, safe="/~")

    return Recording


def parse_request(text):
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    method, _, rest = lines[0].partition(" ")
    target = rest.rsplit(" ", 1)[0]  # "GET /example space/ HTTP/1.1": the path may hold spaces
    # Multi-line header values are not used by the cases kept here.
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name, value))
    path, _, query = target.partition("?")
    params = []
    if query:
        for pair in query.split("&"):
            k, _, v = pair.partition("=")
            params.append((unquote(k), unquote(v)))
    return method, path, params, headers, body


def build(method, path, params, headers, body, params_in_url=False):
    merged = {}
    order = []
    for name, value in headers:
        key = name.lower()
        if key in merged:
            # botocore keeps one value per name: join repeated headers as the spec does.
            merged[key] = merged[key] + "," + " ".join(value.split())
        else:
            merged[key] = value
            order.append(name)
    hdrs = {name: merged[name.lower()] for name in order}
    # The suite's request line holds the path as bytes on the wire; botocore encodes it once
    # more (for non-S3 services any '%' in it is encoded again: double encoding).
    url = "https://example.amazonaws.com" + path
    if params_in_url and params:
        # SigV4QueryAuth reads the operation parameters from the URL, not from .params.
        url += "?" + "&".join(quote(k, safe="-_.~") + "=" + quote(v, safe="-_.~") for k, v in params)
    req = AWSRequest(method=method, url=url, headers=hdrs, data=body.encode() if body else None)
    if not params_in_url:
        req.params = dict(params)
    return req


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(here)):
        folder = os.path.join(here, name)
        if not os.path.isdir(folder):
            continue
        ctx = json.load(open(os.path.join(folder, "context.json")))
        c = ctx["credentials"]
        creds = Credentials(c["access_key_id"], c["secret_access_key"], c.get("token"))
        text = open(os.path.join(folder, "request.txt"), encoding="utf-8").read()
        method, path, params, headers, body = parse_request(text)
        if ctx.get("sign_body"):
            headers.append(("x-amz-content-sha256", hashlib.sha256(body.encode()).hexdigest()))
        expected = open(os.path.join(folder, "header-signed-request.txt"), encoding="utf-8").read()
        want = re.search(r"Signature=([0-9a-f]{64})", expected).group(1)

        signer = recording(SigV4Auth, ctx["normalize"])(creds, ctx["service"], ctx["region"])
        req = build(method, path, params, headers, body)
        signer.add_auth(req)
        if signer.sig != want:
            sys.exit(f"{name}: botocore signs {signer.sig}, aws-c-auth says {want}: not writing")
        if not req.context["timestamp"].startswith("20150830T123600Z"):
            sys.exit("run under faketime -f '2015-08-30 12:36:00' with TZ=UTC")
        for suffix, value in (("canonical-request", signer.creq), ("string-to-sign", signer.sts),
                              ("signature", signer.sig)):
            with open(os.path.join(folder, f"header-{suffix}.txt"), "w", encoding="utf-8") as f:
                f.write(value)

        if ctx.get("sign_body"):
            continue  # a presigned URL carries no body
        qsigner = recording(SigV4QueryAuth, ctx["normalize"])(
            creds, ctx["service"], ctx["region"], expires=ctx["expiration_in_seconds"])
        qreq = build(method, path, params, headers, body, params_in_url=True)
        qsigner.add_auth(qreq)
        for suffix, value in (("canonical-request", qsigner.creq), ("string-to-sign", qsigner.sts),
                              ("signature", qsigner.sig)):
            with open(os.path.join(folder, f"query-{suffix}.txt"), "w", encoding="utf-8") as f:
                f.write(value)
        with open(os.path.join(folder, "query-signed-request.txt"), "w", encoding="utf-8") as f:
            f.write(qreq.url[len("https://example.amazonaws.com"):])
        print(f"{name}: header {signer.sig[:16]}.. query {qsigner.sig[:16]}..")


if __name__ == "__main__":
    main()
