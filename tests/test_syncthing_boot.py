"""A generated node's config/ loads in the real syncthing binary (bounded headless start on loopback)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.chains import make_local_chain

BOOT_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redirect_to_loopback(config_xml: Path, data_root: Path) -> None:
    """Edit the copy only: folders into a temp dir, every address onto loopback."""
    tree = ET.parse(config_xml)
    root = tree.getroot()
    for folder in root.iter("folder"):
        path = data_root / folder.attrib["id"]
        path.mkdir(parents=True)
        folder.set("path", str(path))
    for address in root.findall("device/address"):
        address.text = f"tcp://127.0.0.1:{free_port()}"
    listen = root.find("options/listenAddress")
    assert listen is not None
    listen.text = f"tcp://127.0.0.1:{free_port()}"
    tree.write(config_xml)


def rest(port: int, api_key: str, endpoint: str) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{endpoint}", headers={"X-API-Key": api_key})
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


def test_generated_config_boots_in_real_syncthing(tmp_path: Path, syncthing: str):
    work = tmp_path / "work"
    summary = make_local_chain(work, "--peers_count", "3")
    device_ids = [line.split("syncthing ")[1].strip() for line in summary.splitlines() if " syncthing " in line]
    assert len(device_ids) == 3
    home = tmp_path / "home"
    shutil.copytree(work / "cita-cloud/test-chain/node1/config", home)
    redirect_to_loopback(home / "config.xml", tmp_path / "data")
    api_key = ET.parse(home / "config.xml").getroot().findtext("gui/apikey")
    assert api_key
    gui_port = free_port()
    process = subprocess.Popen(
        [
            syncthing,
            "serve",
            "--home",
            str(home),
            "--no-browser",
            "--no-restart",
            "--no-default-folder",
            "--no-upgrade",
            "--skip-port-probing",
            f"--gui-address=http://127.0.0.1:{gui_port}",
            f"--logfile={tmp_path / 'syncthing.log'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(tmp_path), "STNOUPGRADE": "1", "STNORESTART": "1"},
    )
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT
        wrong_key_refused = False
        while True:
            try:
                status = rest(gui_port, api_key, "/rest/system/status")
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "syncthing.log").read_text()
                assert time.monotonic() < deadline, "syncthing did not answer in time"
                time.sleep(0.3)
        try:
            rest(gui_port, "test-chain", "/rest/system/status")
        except urllib.error.HTTPError as refused:
            wrong_key_refused = refused.code in (401, 403)
        devices = rest(gui_port, api_key, "/rest/config/devices")
        folders = rest(gui_port, api_key, "/rest/config/folders")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert status["myID"] == device_ids[1]
    assert wrong_key_refused, "the REST API must refuse the chain name as a key"
    assert {device["deviceID"]: device["name"] for device in devices} == {
        device_id: f"test-chain-{index}" for index, device_id in enumerate(device_ids)
    }
    assert sorted(folder["id"] for folder in folders) == ["blocks", "proposals", "txs"]
    for folder in folders:
        assert sorted(device["deviceID"] for device in folder["devices"]) == sorted(device_ids)
        assert folder["type"] == "sendreceive" and folder["ignoreDelete"] is True
        assert folder["rescanIntervalS"] == 0 and folder["fsWatcherEnabled"] is True


def test_config_xml_keeps_syncthing_private(tmp_path: Path):
    """A random API key per node, GUI on loopback; no discovery, relays, NAT, reporting or upgrades."""
    work = tmp_path / "work"
    make_local_chain(work, "--peers_count", "1", "--chain_name", "solo")
    config = ET.parse(work / "cita-cloud/solo/node0/config/config.xml").getroot()
    api_key = config.findtext("gui/apikey") or ""
    assert len(api_key) == 32 and api_key.isalnum() and api_key != "solo"
    assert config.findtext("gui/address") == "127.0.0.1:8384"
    assert config.findtext("options/listenAddress") == "tcp://0.0.0.0:22000"
    for flag in (
        "globalAnnounceEnabled",
        "localAnnounceEnabled",
        "relaysEnabled",
        "natEnabled",
        "crashReportingEnabled",
    ):
        assert config.findtext(f"options/{flag}") == "false", flag
    assert config.findtext("options/autoUpgradeIntervalH") == "0"
    assert config.findtext("options/urAccepted") == "-1"
