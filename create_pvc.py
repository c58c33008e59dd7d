#!/usr/bin/env python3
"""Generate the PersistentVolume and PersistentVolumeClaim that hold the node folders.

A thin shim: the command lives in runner_k8s/scripts/create_pvc.py (installed by pip as create_pvc.py).
This file must stay parseable by old Pythons, so that they get one clear line instead of a traceback.
"""

import sys

from runner_k8s.launch import require_runtime

require_runtime("create_pvc.py")

from runner_k8s.scripts.create_pvc import build_parser, main  # noqa: E402 - only once the runtime is known to fit

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
