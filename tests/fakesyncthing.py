"""A stand-in for `syncthing cli --home /var/syncthing/config config ...` inside the fast fake pods.

It changes the pod's syncthing state (tests/fakecluster.py: a JSON file named by RK8S_SYNC_STATE, the
devices and the devices each folder is shared with) as syncthing 1.19's CLI changes its config, with
its answers (checked on Debian's syncthing 1.19): adding a device that is there keeps one entry and
exits 0, deleting one that is not there exits 3; a device JSON with a field syncthing's config does
not have is refused.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

HOME = "/var/syncthing/config"
DEVICE_ID = re.compile(r"[A-Z2-7]{7}(-[A-Z2-7]{7}){7}")
DEVICE_FIELDS = {
    "deviceID", "name", "addresses", "compression", "certName", "introducer", "skipIntroductionRemovals",
    "introducedBy", "paused", "allowedNetworks", "autoAcceptFolders", "maxSendKbps", "maxRecvKbps",
    "ignoredFolders", "maxRequestKiB", "untrusted", "remoteGUIPort",
}  # fmt: skip
SHARE_FIELDS = {"deviceID", "introducedBy", "encryptionPassword"}
MISSING = 3


class Refused(Exception):
    """What syncthing says before it exits non-zero."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def device(text: str, fields: set[str]) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict) or not DEVICE_ID.fullmatch(str(value.get("deviceID", ""))):
        raise Refused(f"invalid device JSON {text}")
    unknown = set(value) - fields
    if unknown:
        raise Refused(f"json: unknown field {sorted(unknown)[0]!r}")
    return value


def devices(state: dict[str, Any], rest: list[str]) -> str:
    known: dict[str, Any] = state["devices"]
    if rest == ["list"]:
        return "\n".join(sorted(known))
    if rest[:1] == ["add-json"] and len(rest) == 2:
        value = device(rest[1], DEVICE_FIELDS)
        known.setdefault(
            value["deviceID"], {"name": value.get("name"), "addresses": value.get("addresses", ["dynamic"])}
        )
        return ""
    if len(rest) == 2 and rest[1] == "delete":
        if rest[0] not in known:
            raise Refused(f"No help topic for '{rest[0]}'", MISSING)
        del known[rest[0]]
        return ""
    raise Refused(f"not played here: devices {rest}")


def folder_devices(state: dict[str, Any], folder: str, rest: list[str]) -> str:
    shares = state["folders"].get(folder)
    if shares is None:
        raise Refused(f"No help topic for '{folder}'", MISSING)
    if rest == ["list"]:
        return "\n".join(shares)
    if rest[:1] == ["add-json"] and len(rest) == 2:
        value = device(rest[1], SHARE_FIELDS)
        if value["deviceID"] not in shares:
            shares.append(value["deviceID"])
        return ""
    if len(rest) == 2 and rest[1] == "delete":
        if rest[0] not in shares:
            raise Refused(f"No help topic for '{rest[0]}'", MISSING)
        shares.remove(rest[0])
        return ""
    raise Refused(f"not played here: folders {folder} devices {rest}")


def main(args: list[str]) -> int:
    if args[:3] != ["cli", "--home", HOME] or args[3:4] != ["config"]:
        print(f"syncthing: not played here: {args}", file=sys.stderr)
        return 1
    path = os.environ["RK8S_SYNC_STATE"]
    with open(path) as stream:
        state = json.load(stream)
    words = args[4:]
    try:
        if words[:1] == ["devices"]:
            shown = devices(state, words[1:])
        elif words[:1] == ["folders"] and len(words) >= 4 and words[2] == "devices":
            shown = folder_devices(state, words[1], words[3:])
        else:
            raise Refused(f"not played here: {words}")
    except Refused as refused:
        print(refused, file=sys.stderr)
        return refused.code
    with open(path, "w") as stream:
        json.dump(state, stream)
    print(shown, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
