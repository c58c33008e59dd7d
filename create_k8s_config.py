#!/usr/bin/env python3
"""Generate the node folders and Kubernetes YAML of a CITA-Cloud chain.

A thin shim: the command lives in runner_k8s/scripts/create_k8s_config.py (installed by pip as create_k8s_config.py).
This file must stay parseable by old Pythons, so that they get one clear line instead of a traceback.
"""

import sys

from runner_k8s.launch import require_runtime

require_runtime("create_k8s_config.py")

from runner_k8s.scripts.create_k8s_config import build_parser, main  # noqa: E402 - only once the runtime is known to fit

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
