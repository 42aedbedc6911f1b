#!/usr/bin/env python3
"""Scans every worker log and audit trail that the test suite kept (see
Tests/TestSupport/WorkerProcess.swift) for every secret and every code the
worker could have issued while it ran: zero hits, or exit status 1.

    scripts/scan-secrets.py [EVIDENCE_DIR, default /tmp/mfa-test-evidence]

A code counts as found when it stands as a token of its own (not inside a
longer run of letters and digits), for every window of every key from the
first to the last line of that worker's log, one window either side.
"""
import base64, datetime, glob, hashlib, hmac, json, os, re, struct, sys

root = sys.argv[1] if len(sys.argv) > 1 else "/tmp/mfa-test-evidence"
ALGORITHMS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}
TIMESTAMP = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d{3}Z")


def code(key, counter, digits, algorithm):
    digest = hmac.new(key, struct.pack(">Q", counter), ALGORITHMS[algorithm]).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def seconds(match):
    return int(datetime.datetime.strptime(match.decode(), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp())


folders = sorted(glob.glob(os.path.join(root, "*")))
if not folders:
    print("scan: no evidence in %s (run the test suite first)" % root)
    sys.exit(1)
hits, texts, codes_checked, secrets_checked = [], 0, 0, 0
for folder in folders:
    keys_file = os.path.join(folder, "keys.json")
    if not os.path.exists(keys_file):
        continue
    keys = json.load(open(keys_file))
    texts_here = {}
    for name in ("worker.log", "audit.jsonl"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            texts_here[name] = open(path, "rb").read()
    if not texts_here:
        continue
    texts += len(texts_here)
    times = [seconds(m.group(1)) for t in texts_here.values() for m in TIMESTAMP.finditer(t)]
    if not times:
        continue
    start, end = min(times), max(times)
    for entry in keys:
        secret = entry["base32"]
        key = base64.b32decode(secret + "=" * (-len(secret) % 8))
        forms = {secret, secret.lower(), " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)).lower(), key.hex()}
        period, digits = int(entry["period"]), int(entry["digits"])
        candidates = set()
        for counter in range(start // period - 1, end // period + 2):
            candidates.add(code(key, counter, digits, entry["algorithm"]))
        for name, text in texts_here.items():
            for form in forms:
                secrets_checked += 1
                if form.encode() in text:
                    hits.append("%s/%s: the secret of %s" % (os.path.basename(folder), name, entry["account"]))
            for candidate in candidates:
                codes_checked += 1
                if re.search(rb"(?<![0-9A-Za-z])" + candidate.encode() + rb"(?![0-9A-Za-z])", text):
                    hits.append("%s/%s: a code of %s" % (os.path.basename(folder), name, entry["account"]))
print("scan: %d logs and audit trails of %d workers; %d secret forms and %d codes looked for; %d hits"
      % (texts, len(folders), secrets_checked, codes_checked, len(hits)))
for hit in hits[:20]:
    print("scan: FOUND " + hit)
sys.exit(1 if hits else 0)
