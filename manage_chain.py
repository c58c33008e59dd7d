#!/usr/bin/env python3
"""Look at a running CITA-Cloud v5.0.0 chain and govern it with the super admin's transactions.

A thin shim: the command lives in runner_k8s/scripts/manage_chain.py (installed by pip as manage_chain.py).
This file must stay parseable by old Pythons, so that they get one clear line instead of a traceback.
"""

import sys

from runner_k8s.launch import require_runtime

require_runtime("manage_chain.py")

from runner_k8s.scripts.manage_chain import build_parser, main  # noqa: E402 - only once the runtime is known to fit

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
