#!/usr/bin/env python3
"""Generate the PersistentVolume and PersistentVolumeClaim that hold the node folders.

A thin shim: the command lives in runner_k8s/scripts/create_pvc.py (installed by pip as create_pvc.py).
This file must stay parseable by old Pythons, so that they get one clear line instead of a traceback.
"""

from runner_k8s.launch import finish, missing_dependency, require_python, run_command

require_python("create_pvc.py")

try:
    from runner_k8s.scripts.create_pvc import build_parser, main
except ImportError as error:  # a missing package: one line, not a traceback
    missing_dependency("create_pvc.py", error)
    raise

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    finish(run_command("create_pvc.py", main))  # exits
