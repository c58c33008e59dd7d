#!/usr/bin/env python3
"""Create a kms account from the password in key_file, in a folder named by its address.

A thin shim: the command lives in runner_k8s/scripts/create_account.py (installed by pip as create_account.py).
This file must stay parseable by old Pythons, so that they get one clear line instead of a traceback.
"""

from runner_k8s.launch import finish, missing_dependency, require_python, run_command

require_python("create_account.py")

try:
    from runner_k8s.scripts.create_account import build_parser, main
except ImportError as error:  # a missing package: one line, not a traceback
    missing_dependency("create_account.py", error)
    raise

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    finish(run_command("create_account.py", main))  # exits
