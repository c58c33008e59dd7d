#!/usr/bin/env python3
"""Create a syncthing identity (cert.pem, key.pem) in a folder named by its device ID.

A thin shim: the command lives in runner_k8s/scripts/create_syncthing_config.py (pip installs it as
create_syncthing_config.py).
This file must stay parseable by old Pythons, so that they get one clear line instead of a traceback.
"""

from runner_k8s.launch import finish, missing_dependency, require_python, run_command

require_python("create_syncthing_config.py")

try:
    from runner_k8s.scripts.create_syncthing_config import build_parser, main
except ImportError as error:  # a missing package: one line, not a traceback
    missing_dependency("create_syncthing_config.py", error)
    raise

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    finish(run_command("create_syncthing_config.py", main))  # exits
