#!/usr/bin/env python3
"""Generate the node folders and Kubernetes YAML of a CITA-Cloud chain.

A thin shim: the command lives in runner_k8s/scripts/create_k8s_config.py (installed by pip as create_k8s_config.py).
This file must stay parseable by old Pythons, so that they get one clear line instead of a traceback.
"""

from runner_k8s.launch import finish, missing_dependency, require_runtime, run_command

require_runtime("create_k8s_config.py")  # before any import: a chain loads most packages only when it needs them

try:
    from runner_k8s.scripts.create_k8s_config import build_parser, main
except ImportError as error:  # a missing package: one line, not a traceback
    missing_dependency("create_k8s_config.py", error)
    raise

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    finish(run_command("create_k8s_config.py", main))  # exits
