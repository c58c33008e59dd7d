"""Every manifest variant the scripts can write, made with the real entry points (for the scanners)."""

from __future__ import annotations

from pathlib import Path

import create_account
import create_k8s_config
import create_pvc
from runner_k8s.keys.syncthing import new_identity
from runner_k8s.runtime import utc_now
from tests.chains import make_local_chain
from tests.conftest import REPO, DeterministicRandom, fixed_runtime, output_of

SHIPPED = (REPO / "service-config.toml").read_text()
CHAINCODE = SHIPPED.replace("citacloud/executor_evm:v5.0.0", "citacloud/executor_chaincode")
CHAINCODE_EXT = SHIPPED.replace("citacloud/executor_evm:v5.0.0", "citacloud/executor_chaincode_ext")
CONFIGS = {"CHAINCODE": CHAINCODE, "CHAINCODE_EXT": CHAINCODE_EXT}

# name -> local_cluster flags (CHAINCODE/CHAINCODE_EXT stand for a service config with that executor)
LOCAL_VARIANTS: dict[str, list[str]] = {
    "plain": [],
    "monitor-debug": ["--need_monitor", "true", "--need_debug", "true", "--peers_count", "3", "--namespace", "cita"],
    "chaincode": ["--need_monitor", "--service_config", "CHAINCODE"],
    "chaincode-ext": ["--need_debug", "--service_config", "CHAINCODE_EXT", "--state_db_password", "db-pass-4471"],
}
MULTI_VARIANTS: dict[str, list[str]] = {
    "multi": [],
    "multi-all": [
        "--need_monitor",
        "--need_debug",
        "--service_config",
        "CHAINCODE_EXT",
        "--namespace",
        "cita",
        "--state_db_password",
        "db-pass-4471",
    ],
}
# name -> v6.7.4 local_cluster flags, and the v6.7.4 multi_cluster variant (accounts made in write_variants)
V6_LOCAL_VARIANTS: dict[str, list[str]] = {
    "v6-overlord": ["--peers_count", "4", "--need_debug", "--namespace", "cita"],
    "v6-raft": ["--consensus", "raft"],
}
V6_MULTI = "v6-multi"
ADDRESSES = ["0x" + f"{n:040x}" for n in (0xA0, 0xA1, 0xA2)]
ADMIN = "0x" + "ad" * 20


def _with_configs(work: Path, flags: list[str]) -> list[str]:
    args = list(flags)
    for marker, text in CONFIGS.items():
        if marker in args:
            config = work / f"{marker}.toml"
            config.write_text(text)
            args = [str(config) if item == marker else item for item in args]
    return args


def make_multi_chain(
    work: Path, *extra: str, passwords: tuple[str, ...] = ("--kms_passwords", "pw-0,pw-1,pw-2")
) -> None:
    """A three-node multi_cluster chain (no pre-made keys: the node folders are incomplete, the YAML is whole)."""
    assert create_k8s_config.main(multi_argv(work, *extra, passwords=passwords), fixed_runtime("multi variants")) == 0


def multi_argv(
    work: Path, *extra: str, passwords: tuple[str, ...] = ("--kms_passwords", "pw-0,pw-1,pw-2")
) -> list[str]:
    """The command line of a three-node multi_cluster chain written into `work`."""
    rand = DeterministicRandom("variants")
    now = utc_now(fixed_runtime())
    device_ids = [new_identity(rand, now).device_id for _ in ADDRESSES]
    argv = [
        "multi_cluster",
        "--super_admin",
        ADMIN,
        "--authorities",
        ",".join(ADDRESSES),
        "--nodes",
        "192.0.2.10,192.0.2.11,node2.example.org",
        "--lbs_tokens",
        "lb-a,lb-b,lb-c",
        "--sync_device_ids",
        ",".join(device_ids),
        *passwords,
        "--node_ports",
        "30000,31000,32000",
        "--pvc_names",
        "pvc-0,pvc-1,pvc-2",
        "--work_dir",
        str(work),
        *extra,
    ]
    return argv


def write_variants(root: Path) -> dict[str, list[Path]]:
    """name -> the YAML files of that variant (chain YAML, or one file per node, or the PVC files)."""
    variants: dict[str, list[Path]] = {}
    for name, flags in LOCAL_VARIANTS.items():
        work = root / name
        work.mkdir()
        make_local_chain(work, *_with_configs(work, flags), "--chain_name", name)
        variants[name] = [work / f"{name}.yaml"]
    for name, flags in MULTI_VARIANTS.items():
        work = root / name
        work.mkdir()
        make_multi_chain(work, *_with_configs(work, flags), "--chain_name", name)
        variants[name] = [work / f"{name}-{index}.yaml" for index in range(3)]
    for name, flags in V6_LOCAL_VARIANTS.items():
        work = root / name
        work.mkdir()
        argv = ["local_cluster", "--release", "v6.7.4", "--pvc_name", "local-pvc", "--work_dir", str(work)]
        assert create_k8s_config.main([*argv, *flags, "--chain_name", name], fixed_runtime("v6 variants")) == 0
        variants[name] = [work / f"{name}.yaml"]
    work = root / V6_MULTI
    work.mkdir()
    assert create_k8s_config.main(v6_multi_argv(work), fixed_runtime("v6 multi")) == 0
    variants[V6_MULTI] = [work / f"{V6_MULTI}-{index}.yaml" for index in range(3)]
    pvc = root / "pvc"
    assert create_pvc.main(["local_pvc", "--work_dir", str(pvc)], fixed_runtime()) == 0
    nfs = ["nfs_pvc", "--nfs_server", "nfs.example.org", "--nfs_path", "/x", "--work_dir", str(pvc)]
    assert create_pvc.main(nfs, fixed_runtime()) == 0
    variants["pvc"] = [pvc / "local-pvc.yaml", pvc / "nfs-pvc.yaml"]
    return variants


def v6_multi_argv(work: Path, *extra: str) -> list[str]:
    """A three-node v6.7.4 multi_cluster chain in `work` (debug on), from accounts made there by create_account.py."""
    addresses = []
    for number in range(4):
        runtime = fixed_runtime(f"v6 account {number}")
        assert create_account.main(["--release", "v6.7.4", "--output_dir", str(work)], runtime) == 0
        addresses.append(output_of(runtime).split()[1].rstrip(":"))
    return [
        "multi_cluster",
        "--release",
        "v6.7.4",
        "--chain_name",
        V6_MULTI,
        "--super_admin",
        addresses[3],
        "--authorities",
        ",".join(addresses[:3]),
        "--nodes",
        "192.0.2.10,2001:db8::11,node2.example.org",
        "--lbs_tokens",
        "lb-a,lb-b,lb-c",
        "--node_ports",
        "30000,31000,32000",
        "--pvc_names",
        "pvc-0,pvc-1,pvc-2",
        "--accounts_dir",
        str(work),
        "--work_dir",
        str(work),
        "--need_debug",
        *extra,
    ]
