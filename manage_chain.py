#!/usr/bin/env python3
"""Look at a running CITA-Cloud v5.0.0 chain and govern it with the super admin's transactions.

A thin shim: the command lives in runner_k8s/scripts/manage_chain.py (installed by pip as manage_chain.py).
This file must stay parseable by old Pythons, so that they get one clear line instead of a traceback.
"""

import sys

from runner_k8s.launch import missing_dependency, require_runtime, run_command

# gRPC loads late, once a node is called: its packages are checked up front here (start-up matters less).
require_runtime("manage_chain.py")

try:
    from runner_k8s.scripts.manage_chain import build_parser, main
except ImportError as error:  # a missing package: one line, not a traceback
    missing_dependency("manage_chain.py", error)
    raise

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(run_command("manage_chain.py", main))
