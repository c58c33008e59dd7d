#!/usr/bin/env python3
"""The floor of the two small scripts: the same keys and files, with nothing but the libraries that make them.

    python3 bench/startup_floor.py sync         # a syncthing identity, as create_syncthing_config.py
    python3 bench/startup_floor.py account-sm   # a kms account, as create_account.py --kms_type sm
    python3 bench/startup_floor.py account-eth  # the same for kms_eth

Run in an empty folder; each writes what the script writes (a folder named by the device ID or the
address, with the same files) and prints its one line. bench/run.py times it beside the scripts.
"""

from __future__ import annotations

import sys


def sync() -> None:
    """An ECDSA P-384 key and its self-signed certificate, as syncthing makes them; the device ID."""
    import base64
    import datetime as dt
    import hashlib
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Syncthing"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Automatically Generated"),
            x509.NameAttribute(NameOID.COMMON_NAME, "syncthing"),
        ]
    )
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    usage = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(os.urandom(8), "big") >> 1)
        .not_valid_before(today)
        .not_valid_after(today + dt.timedelta(days=7300))
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("syncthing")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    digest = base64.b32encode(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()).decode()
    device = digest.rstrip("=")  # the check characters cost nothing beside the key; the floor leaves them out
    os.mkdir(device, 0o700)
    with open(f"{device}/cert.pem", "wb") as stream:
        stream.write(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(f"{device}/key.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(key_pem)
    print(f"device_id: {device}")


def account(flavour: str) -> None:
    """A kms.db with one account: the password hash, the encrypted key, the address (contracts.md §3)."""
    import os
    import sqlite3

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    password = open("key_file").read().rstrip().encode()  # noqa: SIM115 - the floor is plain on purpose
    if flavour == "eth":
        from Crypto.Hash import keccak

        def digest(data: bytes) -> bytes:
            return keccak.new(data=data, digest_bits=256).digest()

        key = ec.generate_private_key(ec.SECP256K1())
        secret = key.private_numbers().private_value.to_bytes(32, "big")
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )[1:]
        salted = digest(password + b"Matthew 5-13")
        cipher: Cipher[modes.CTR] | Cipher[modes.CFB] = Cipher(algorithms.AES(salted[:16]), modes.CTR(salted[16:]))
    else:

        def digest(data: bytes) -> bytes:
            sm3 = hashes.Hash(hashes.SM3())
            sm3.update(data)
            return sm3.finalize()

        # SM2 has no library key generation: the scripts' own point multiplication is part of the work.
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from runner_k8s.keys.accounts import KmsFlavour, new_account

        made = new_account(KmsFlavour.SM, os.urandom)
        secret, public = made.secret.to_bytes(32, "big"), made.public
        salted = digest(password + b"Matthew 5-13")
        cipher = Cipher(algorithms.SM4(salted[:16]), modes.CFB(salted[16:]))
    encryptor = cipher.encryptor()
    encrypted = encryptor.update(secret) + encryptor.finalize()
    address = "0x" + digest(public)[-20:].hex()
    os.mkdir(address, 0o700)
    with sqlite3.connect(f"{address}/kms.db") as db:
        db.execute("create table config(id integer primary key, password BLOB, config_type TEXT)")
        db.execute("create table account(id INTEGER PRIMARY KEY, pubkey BLOB, privkey BLOB, description TEXT)")
        db.execute("insert into config values (1, ?, ?)", (salted, flavour))
        db.execute("insert into account values (1, ?, ?, 'create by cmd')", (public, encrypted))
    db.close()
    for name, data in (("key_id", "1"), ("node_address", address)):
        with open(f"{address}/{name}", "w") as stream:
            stream.write(data)
    os.rename("key_file", f"{address}/key_file")
    print(f"kms create output: key_id:1,address:{address}")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "sync":
        sync()
    elif what in ("account-sm", "account-eth"):
        account(what.removeprefix("account-"))
    else:
        raise SystemExit("usage: startup_floor.py sync|account-sm|account-eth")
