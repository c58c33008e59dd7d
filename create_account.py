#!/usr/bin/env python3
"""Create a kms account from the password in key_file, in a folder named by its address.

A thin shim: the command lives in runner_k8s/scripts/create_account.py (installed by pip as create_account.py).
This file must stay parseable by old Pythons, so that they get one clear line instead of a traceback.
"""

import sys

from runner_k8s.launch import require_runtime

require_runtime("create_account.py")

from runner_k8s.scripts.create_account import build_parser, main  # noqa: E402 - only once the runtime is known to fit

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
