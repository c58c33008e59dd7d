#!/usr/bin/env python3
"""Generate the node folders and Kubernetes YAML of a CITA-Cloud chain.

A thin shim: the command lives in runner_k8s/scripts/create_k8s_config.py (installed by pip as create_k8s_config.py).
This file must stay parseable by old Pythons, so that they get one clear line instead of a traceback.
"""

import sys

from runner_k8s.launch import missing_dependency, require_python, run_command

require_python("create_k8s_config.py")

try:
    from runner_k8s.scripts.create_k8s_config import build_parser, main
except ImportError as error:  # a missing package: one line, not a traceback
    missing_dependency("create_k8s_config.py", error)
    raise

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(run_command("create_k8s_config.py", main))
