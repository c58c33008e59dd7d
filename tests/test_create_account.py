"""create_account.py as users run it, and every bad input it must refuse."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

import create_account
from tests.conftest import fixed_runtime, output_of, run_script, tree_snapshot
from tests.independent import check_kms_db

LINE = re.compile(r"^kms create output: key_id:1,address:(0x[0-9a-f]{40})$")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("kms_type", ["sm", "eth"])
def test_account_as_the_original_workflow(tmp_path: Path, kms_type: str):
    (tmp_path / "key_file").write_text("password\n")
    result = run_script("create_account.py", "--kms_type", kms_type, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    match = LINE.match(result.stdout.strip())
    assert match, result.stdout
    address = match.group(1)
    folder = tmp_path / address
    assert sorted(p.name for p in folder.iterdir()) == ["key_file", "key_id", "kms.db", "node_address"]
    assert not (tmp_path / "key_file").exists(), "the key file is moved into the account folder"
    assert (folder / "key_file").read_text() == "password\n"
    assert (folder / "key_id").read_bytes() == b"1"
    assert (folder / "node_address").read_bytes() == address.encode()
    assert mode(folder) == 0o700
    assert mode(folder / "kms.db") == 0o600
    assert mode(folder / "key_file") == 0o600
    # The password as the kms reads it: trailing whitespace removed.
    check_kms_db(folder / "kms.db", "password", address)
    assert "password" not in result.stdout + result.stderr


def test_default_flavour_comes_from_the_service_config(tmp_path: Path):
    (tmp_path / "key_file").write_text("pw")
    (tmp_path / "service-config.toml").write_text(
        (Path(create_account.__file__).parent / "service-config.toml")
        .read_text()
        .replace("citacloud/kms_sm:v5.0.0", "citacloud/kms_eth:v5.0.0")
    )
    runtime = fixed_runtime()
    code = create_account.main(
        [
            "--output_dir",
            str(tmp_path / "out"),
            "--key_file",
            str(tmp_path / "key_file"),
            "--service_config",
            str(tmp_path / "service-config.toml"),
        ],
        runtime,
    )
    assert code == 0
    address = LINE.match(output_of(runtime).strip()).group(1)  # type: ignore[union-attr]
    import sqlite3

    with sqlite3.connect(tmp_path / "out" / address / "kms.db") as db:
        assert db.execute("select config_type from config").fetchone() == ("eth",)
    db.close()


def test_shipped_service_config_gives_sm(tmp_path: Path):
    (tmp_path / "key_file").write_text("pw")
    result = run_script("create_account.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    address = LINE.match(result.stdout.strip()).group(1)  # type: ignore[union-attr]
    import sqlite3

    with sqlite3.connect(tmp_path / address / "kms.db") as db:
        assert db.execute("select config_type from config").fetchone() == ("sm",)
    db.close()


def bad_service_config(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return ["--service_config", str(path)]


BAD_INPUTS = {
    "missing key file": (None, [], "does not exist; write the password"),
    "empty key file": ("", [], "holds no password"),
    "whitespace password": ("  \n\t\n", [], "holds no password"),
    "unknown kms type": ("pw", ["--kms_type", "rsa"], "invalid choice: 'rsa'"),
    "missing service config": ("pw", ["--service_config", "nope.toml"], "does not exist; pass --service_config"),
    "malformed service config": ("pw", "[[services]\nname=", "not valid TOML"),
    "kms image neither sm nor eth": (
        "pw",
        "\n".join(
            f'[[services]]\nname = "{n}"\ndocker_image = "citacloud/{n}_x:v5.0.0"\ncmd = "{n} run"'
            for n in ("network", "consensus", "executor", "storage", "controller", "kms")
        ),
        "neither kms_sm nor kms_eth",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_writes_nothing(tmp_path: Path, case: str):
    key_text, extra, message = BAD_INPUTS[case]
    if key_text is not None:
        (tmp_path / "key_file").write_text(key_text)
    args = bad_service_config(tmp_path, extra) if isinstance(extra, str) else list(extra)
    before = tree_snapshot(tmp_path)
    result = run_script("create_account.py", *args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert tree_snapshot(tmp_path) == before, "nothing may be written or moved"


def test_existing_account_folder_is_never_overwritten(tmp_path: Path):
    args = ["--kms_type", "eth", "--output_dir", str(tmp_path / "out"), "--key_file", str(tmp_path / "key_file")]
    (tmp_path / "key_file").write_text("pw")
    assert create_account.main(args, fixed_runtime(seed="same seed twice")) == 0
    (tmp_path / "key_file").write_text("pw")
    before = tree_snapshot(tmp_path)
    assert create_account.main(args, fixed_runtime(seed="same seed twice")) == 1
    assert tree_snapshot(tmp_path) == before, "the second run must change nothing"
