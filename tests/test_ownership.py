"""--force replaces only what the same subcommand made for the same chain: never two generations side by side."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import create_k8s_config
from tests.chains import make_local_chain
from tests.conftest import fixed_runtime, tree_snapshot
from tests.manifest_variants import make_multi_chain, multi_argv

CHAIN = ["--chain_name", "x"]


def refused(argv: list[str], work: Path) -> str:
    before = tree_snapshot(work)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = create_k8s_config.main(argv, fixed_runtime("again"))
    assert code == 1, stderr.getvalue()
    assert tree_snapshot(work) == before, "nothing may change"
    assert len(stderr.getvalue().strip().splitlines()) == 1
    return stderr.getvalue()


def two_nodes(argv: list[str]) -> list[str]:
    """The same multi_cluster command line with only the first two entries of every list."""
    lists = {"--authorities", "--nodes", "--lbs_tokens", "--sync_device_ids", "--kms_passwords", "--node_ports"}
    lists.add("--pvc_names")
    return [
        ",".join(value.split(",")[:2]) if flag in lists else value
        for flag, value in zip(["", *argv], argv, strict=False)
    ]


def test_multi_refuses_a_local_chain_of_the_same_name(tmp_path: Path):
    make_local_chain(tmp_path, *CHAIN)
    message = refused([*multi_argv(tmp_path, *CHAIN), "--force"], tmp_path)
    assert "x.yaml" in message and "local_cluster" in message


def test_local_refuses_a_multi_chain_of_the_same_name(tmp_path: Path):
    make_multi_chain(tmp_path, *CHAIN)
    argv = ["local_cluster", "--kms_password", "k", "--pvc_name", "p", "--work_dir", str(tmp_path), *CHAIN]
    message = refused([*argv, "--force"], tmp_path)
    assert "x-0.yaml" in message and "multi_cluster" in message
    # Even when cita-cloud/x is gone, the node files would be left beside a new local chain x.
    (tmp_path / "cita-cloud").rename(tmp_path / "elsewhere")
    assert "x-2.yaml" in refused(argv, tmp_path)


def test_a_smaller_multi_chain_does_not_leave_old_node_files(tmp_path: Path):
    make_multi_chain(tmp_path, *CHAIN)
    smaller = [*two_nodes(multi_argv(tmp_path, *CHAIN)), "--force"]
    assert "x-2.yaml" in refused(smaller, tmp_path)
    (tmp_path / "x-2.yaml").unlink()
    assert create_k8s_config.main(smaller, fixed_runtime("again")) == 0
    assert sorted(path.name for path in tmp_path.glob("x*.yaml")) == ["x-0.yaml", "x-1.yaml"]


def test_other_chains_files_do_not_count(tmp_path: Path):
    """x-1b.yaml or xy-0.yaml are not chain x's node files."""
    (tmp_path / "x-1b.yaml").write_text("")
    (tmp_path / "xy-0.yaml").write_text("")
    (tmp_path / "x-01.yaml").write_text("")
    make_local_chain(tmp_path, *CHAIN)
    assert (tmp_path / "x.yaml").is_file()
