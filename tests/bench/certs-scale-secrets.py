#!/usr/bin/env python3
"""Writes kubernetes.io/tls Secrets for tests/bench/certs-scale-bench as `kubectl create -f` List files.

    certs-scale-secrets.py OUT_DIR FIRST COUNT NAMESPACE_PREFIX NAMESPACES FILES

Secrets FIRST .. FIRST+COUNT-1, each a distinct P-256 leaf certificate and key signed by one
bench CA (kept in OUT_DIR/ca.{crt,key} and reused by later calls), valid 1..3650 days (i mod
3650 + 1, so a few are critical, some warn, most are ok), with ca.crt. Secret i goes to
namespace NAMESPACE_PREFIX-(i mod NAMESPACES). The items are spread over FILES files
(OUT_DIR/secrets-FIRST-k.json) so that several `kubectl create -f` can run at once.
"""

import base64
import datetime
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ca(out_dir: str):
    crt_path, key_path = os.path.join(out_dir, "ca.crt"), os.path.join(out_dir, "ca.key")
    if os.path.exists(crt_path):
        with open(key_path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        with open(crt_path, "rb") as f:
            return x509.load_pem_x509_certificate(f.read()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certs-scale-bench CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=3660))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(crt_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def leaf(i: int, ca_cert, ca_key):
    key = ec.generate_private_key(ec.SECP256R1())
    host = f"svc-{i}.bench.svc"
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=i % 3650 + 1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def main() -> None:
    out_dir, first, count, prefix, namespaces, files = sys.argv[1:7]
    first, count, namespaces, files = int(first), int(count), int(namespaces), int(files)
    ca_cert, ca_key = ca(out_dir)
    ca_b64 = b64(ca_cert.public_bytes(serialization.Encoding.PEM))
    outs = [open(os.path.join(out_dir, f"secrets-{first}-{k}.json"), "w") for k in range(files)]
    started = [False] * files
    for out in outs:
        out.write('{"apiVersion":"v1","kind":"List","items":[\n')
    for i in range(first, first + count):
        crt, key = leaf(i, ca_cert, ca_key)
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": f"svc-{i}-tls", "namespace": f"{prefix}-{i % namespaces}"},
            "data": {"tls.crt": b64(crt), "tls.key": b64(key), "ca.crt": ca_b64},
        }
        k = i % files
        outs[k].write((",\n" if started[k] else "") + json.dumps(secret, separators=(",", ":")))
        started[k] = True
    for out in outs:
        out.write("\n]}\n")
        out.close()


if __name__ == "__main__":
    main()
