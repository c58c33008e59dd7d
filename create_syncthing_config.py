#!/usr/bin/env python3
"""Create a syncthing identity (cert.pem, key.pem) in a folder named by its device ID.

A thin shim: the command lives in runner_k8s/scripts/create_syncthing_config.py (pip installs it as
create_syncthing_config.py).
This file must stay parseable by old Pythons, so that they get one clear line instead of a traceback.
"""

import sys

from runner_k8s.launch import require_runtime

require_runtime("create_syncthing_config.py")

from runner_k8s.scripts.create_syncthing_config import build_parser, main  # noqa: E402 - only once the runtime is known to fit

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
