#!/usr/bin/env python3
"""The irreducible work of a local_cluster run, timed as a whole process like bench/run.py's cases.

    python3 bench/floor.py 1000          # prints the floor of a 1000-node chain, in seconds

What a chain of N nodes cannot do without (and nothing else):
- N + 1 SM2 public keys (fixed-base table) and N P-384 keys with their self-signed certificates,
  spread over every core;
- N + 1 kms.db files (sqlite3 in memory, the secret SM4-CFB encrypted);
- every directory, file and byte of the real output written once (no staging, no checks);
- the Kubernetes YAML dumped from the same documents with libyaml's emitter.

The bytes to write are taken from a real run made beforehand (not timed); the child process reports
how long it spent loading them, and that is subtracted. SM2 uses runner_k8s's fixed-base table:
no C library we depend on offers SM2, so that is the fastest implementation at hand.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHAIN = "test-chain"
PASSWORD = "bench"
GENERATED = ("kms.db", "cert.pem", "key.pem")  # made by the key work, so not copied from the sample


def sample_chain(nodes: int, work: Path) -> Path:
    """Run the real script once (untimed) and pickle what the floor must write."""
    sys.path.insert(0, str(REPO))
    import yaml

    import create_k8s_config
    from runner_k8s.runtime import Runtime

    out = work / "sample"
    argv = ["local_cluster", "--kms_password", PASSWORD, "--pvc_name", "local-pvc", "--peers_count", str(nodes)]
    argv += ["--node_port_range", "30000-40000", "--work_dir", str(out)]
    assert create_k8s_config.main(argv, Runtime(stdout=io.StringIO())) == 0
    contents: dict[bytes, int] = {}
    blobs: list[bytes] = []
    dirs: list[tuple[str, int]] = []
    files: list[tuple[str, int, int]] = []
    for path in sorted(out.rglob("*")):
        rel = str(path.relative_to(out))
        mode = path.stat().st_mode & 0o777
        if path.is_dir():
            dirs.append((rel, mode))
        elif (path.name not in GENERATED and path.suffix != ".yaml") or "log4rs" in path.name:
            data = path.read_bytes()
            if data not in contents:
                contents[data] = len(blobs)
                blobs.append(data)
            files.append((rel, contents[data], mode))
    documents = list(yaml.safe_load_all((out / f"{CHAIN}.yaml").read_text()))
    sample = work / "sample.pickle"
    sample.write_bytes(pickle.dumps({"nodes": nodes, "dirs": dirs, "files": files, "blobs": blobs, "docs": documents}))
    shutil.rmtree(out)
    return sample


def _keys(chunk: list[tuple[int, int, int]]) -> list[tuple[bytes, bytes, bytes]]:
    """SM2 public key + kms.db, P-384 key + certificate, for each (sm2 secret, p384 secret, serial)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
    from cryptography.x509.oid import NameOID

    from runner_k8s.keys.accounts import sm2_multiply_generator

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "syncthing")])
    day = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    digest = hashes.Hash(hashes.SM3())
    digest.update(PASSWORD.encode() + b"Matthew 5-13")
    key = digest.finalize()
    made = []
    for sm2_secret, p384_secret, serial in chunk:
        point = sm2_multiply_generator(sm2_secret)
        assert point is not None
        public = point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")
        encryptor = Cipher(algorithms.SM4(key[:16]), CFB(key[16:])).encryptor()
        encrypted = encryptor.update(sm2_secret.to_bytes(32, "big")) + encryptor.finalize()
        with sqlite3.connect(":memory:") as db:
            db.execute("create table config(id integer primary key, password BLOB, config_type TEXT)")
            db.execute("create table account(id INTEGER PRIMARY KEY, pubkey BLOB, privkey BLOB, description TEXT)")
            db.execute("insert into config values (1, ?, 'sm')", (key,))
            db.execute("insert into account values (1, ?, ?, 'create by cmd')", (public, encrypted))
            db.commit()
            kms_db = bytes(db.serialize())
        db.close()
        private = ec.derive_private_key(p384_secret, ec.SECP384R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private.public_key())
            .serial_number(serial)
            .not_valid_before(day)
            .not_valid_after(day + dt.timedelta(days=7300))
            .sign(private, hashes.SHA256(), ecdsa_deterministic=True)
        )
        key_pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        made.append((kms_db, cert.public_bytes(serialization.Encoding.PEM), key_pem))
    return made


def child(sample_path: Path, out: Path) -> None:
    """The timed process: load the sample (reported), make the keys on every core, write everything."""
    import multiprocessing
    import secrets as random

    import yaml

    from runner_k8s.keys.accounts import prepare_sm2_table

    loading = time.perf_counter()
    sample = pickle.loads(sample_path.read_bytes())
    loaded = time.perf_counter() - loading
    nodes = sample["nodes"]
    prepare_sm2_table()
    inputs = [
        (random.randbelow(2**255) + 1, random.randbelow(2**383) + 1, random.randbelow(2**62) + 1)
        for _ in range(nodes + 1)
    ]
    workers = len(os.sched_getaffinity(0))
    size = -(-len(inputs) // (workers * 4))
    chunks = [inputs[start : start + size] for start in range(0, len(inputs), size)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        made = [keys for chunk in pool.map(_keys, chunks) for keys in chunk]
    out.mkdir()
    for rel, mode in sample["dirs"]:
        (out / rel).mkdir(mode=mode)
    blobs = sample["blobs"]
    for rel, blob, mode in sample["files"]:
        fd = os.open(out / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        os.write(fd, blobs[blob])
        os.close(fd)
    generated = [(f"cita-cloud/{CHAIN}/node{index}", keys) for index, keys in enumerate(made[:nodes])]
    generated.append((f"{CHAIN}-admin", made[nodes]))
    for folder, (kms_db, cert_pem, key_pem) in generated:
        for rel, data in (("kms.db", kms_db), ("config/cert.pem", cert_pem), ("config/key.pem", key_pem)):
            if folder.endswith("-admin") and rel.startswith("config/"):
                continue
            fd = os.open(out / folder / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.close(fd)
    text = yaml.dump_all(
        sample["docs"],
        Dumper=yaml.CSafeDumper,
        sort_keys=False,
        explicit_start=True,
        default_flow_style=False,
        width=2**16,
        allow_unicode=True,
    )
    fd = os.open(out / f"{CHAIN}.yaml", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, text.encode())
    os.close(fd)
    print(f"{loaded:.6f}")


def measure(sample: Path, scratch: Path) -> float:
    """One fresh floor process in a fresh directory: wall time minus the time spent loading the sample."""
    out = Path(tempfile.mkdtemp(prefix="floor-", dir=scratch))
    try:
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, __file__, "--child", str(sample), str(out / "o")],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"floor process failed: {result.stderr.strip()}")
        return elapsed - float(result.stdout.strip())
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), Path(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("nodes", type=int)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scratch", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="floor-sample-"))
    try:
        sample = sample_chain(args.nodes, work)
        times = sorted(measure(sample, args.scratch or work) for _ in range(args.repeat))
        print(f"floor of {args.nodes} nodes: median {times[len(times) // 2]:.3f} s (min {times[0]:.3f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
