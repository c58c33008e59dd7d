"""Checks of our outputs built only on plain sqlite3 and the independent crypto libraries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import coincurve
import sha3
from Crypto.Cipher import AES
from gmssl import func, sm3

from tests.test_crypto_primitives import gmssl_sm2_public, gmssl_sm3, gmssl_sm4_cfb

SALT = b"Matthew 5-13"


def check_kms_db(path: Path, password: str, address: str) -> int:
    """Open a kms.db with sqlite3, check the password hash, decrypt key 1, derive the address."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        stored_hash, config_type = db.execute("select password, config_type from config where id = 1").fetchone()
        pubkey, privkey = db.execute("select pubkey, privkey from account where id = 1").fetchone()
    db.close()
    pw = password.rstrip().encode() + SALT
    if config_type == "eth":
        k = sha3.keccak_256(pw).digest()
        assert stored_hash == k, "password hash mismatch"
        secret = AES.new(k[:16], AES.MODE_CTR, nonce=b"", initial_value=k[16:]).decrypt(privkey)
        public = coincurve.PrivateKey(secret).public_key.format(compressed=False)[1:]
        derived = "0x" + sha3.keccak_256(public).hexdigest()[-40:]
    else:
        assert config_type == "sm", config_type
        k = bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(pw)))
        assert stored_hash == k, "password hash mismatch"
        # CFB decryption: the keystream comes from the previous ciphertext block.
        secret = _sm4_cfb_decrypt(k[:16], k[16:], privkey)
        public = gmssl_sm2_public(int.from_bytes(secret, "big"))
        derived = "0x" + gmssl_sm3(public)[-20:].hex()
    assert public == pubkey, "stored public key does not match the private key"
    assert derived == address, f"kms.db holds {derived}, expected {address}"
    return int.from_bytes(secret, "big")


def _sm4_cfb_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    out, feedback = b"", iv
    for start in range(0, len(ciphertext), 16):
        chunk = ciphertext[start : start + 16]
        keystream = gmssl_sm4_cfb(key, feedback, bytes(16))
        out += bytes(a ^ b for a, b in zip(chunk, keystream, strict=False))
        feedback = chunk
    return out
