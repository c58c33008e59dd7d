"""A node's syncthing config.xml (contracts.md §5): rendered for every device of the chain, and read back."""

from __future__ import annotations

import base64
import copy
import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner_k8s.keys.accounts import RandBytes

TEMPLATE = Path(__file__).resolve().parent / "templates" / "syncthing-config.xml"
SYNC_FOLDERS = ("blocks", "proposals", "txs")
SYNC_ROOT = "/var/syncthing"


@dataclass(frozen=True)
class SyncDevice:
    """A device as config.xml lists it."""

    device_id: str
    name: str
    host: str
    port: int


API_KEY_SLOT = "runner-k8s-api-key-slot"  # rendered once per chain, replaced by each node's own key


def with_api_key(config_xml: bytes, api_key: str) -> bytes:
    """A config.xml rendered with API_KEY_SLOT, with the node's own API key in its place."""
    slot = f"<apikey>{API_KEY_SLOT}</apikey>".encode()
    assert config_xml.count(slot) == 1, "render the config with API_KEY_SLOT as the key"
    return config_xml.replace(slot, f"<apikey>{api_key}</apikey>".encode("ascii"))


def new_api_key(randbytes: RandBytes) -> str:
    """A random GUI/REST API key: 32 characters of lowercase base32 (160 bits), as long as syncthing's own."""
    return base64.b32encode(randbytes(20)).decode("ascii").lower()


@functools.cache
def _template() -> ET.Element:
    return ET.parse(TEMPLATE).getroot()


def render_config_xml(api_key: str, devices: Sequence[SyncDevice]) -> bytes:
    """config.xml: three shared folders with every device, then every device with its address."""
    root = copy.deepcopy(_template())
    folder_skeleton = root.find("folder")
    device_skeleton = root.find("device")
    api_key_element = root.find("gui/apikey")
    assert folder_skeleton is not None and device_skeleton is not None and api_key_element is not None
    root.remove(folder_skeleton)
    root.remove(device_skeleton)
    api_key_element.text = api_key
    position = 0
    for folder_id in SYNC_FOLDERS:
        folder = copy.deepcopy(folder_skeleton)
        folder.set("id", folder_id)
        folder.set("path", f"{SYNC_ROOT}/{folder_id}")
        for offset, device in enumerate(devices, start=1):
            folder.insert(offset, ET.Element("device", {"id": device.device_id, "introducedBy": ""}))
        root.insert(position, folder)
        position += 1
    for device in devices:
        element = copy.deepcopy(device_skeleton)
        element.set("id", device.device_id)
        element.set("name", device.name)
        address = element.find("address")
        assert address is not None
        host = f"[{device.host}]" if ":" in device.host else device.host  # an IPv6 address, bracketed in a URL
        address.text = f"tcp://{host}:{device.port}"
        root.insert(position, element)
        position += 1
    ET.indent(root, space="    ")
    return ET.tostring(root, encoding="unicode").encode("utf-8") + b"\n"


def _parsed(config_xml: bytes) -> ET.Element | None:
    try:
        return ET.fromstring(config_xml)
    except ET.ParseError:
        return None


API_KEY_ELEMENT = re.compile(rb"<apikey>([a-z2-7]+)</apikey>")


def api_key_of(config_xml: bytes) -> str | None:
    """The GUI/REST API key of a config.xml this tool wrote (None when it has none).

    Found by its element's text rather than by parsing: a day-2 verb reads every node's, then compares
    each whole file with the one it plans.
    """
    found = API_KEY_ELEMENT.findall(config_xml)
    return found[0].decode("ascii") if len(found) == 1 else None


def devices_of(config_xml: bytes) -> list[SyncDevice]:
    """The top-level devices of a config.xml this tool wrote: id, name and the host and port of its address."""
    root = _parsed(config_xml)
    found = []
    for element in [] if root is None else root.findall("device"):
        address = element.findtext("address") or ""
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        if not port.isdigit():
            continue
        found.append(SyncDevice(element.get("id", ""), element.get("name", ""), host.strip("[]"), int(port)))
    return found
