"""Start a command, or say in one line why it cannot start (an old Python, a missing package).

This module and the scripts that import it must stay parseable by old Pythons: no f-strings, no
annotations, nothing newer than Python 3.0 syntax. Everything else in runner_k8s needs 3.11.
"""

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy treats this name the same)
if TYPE_CHECKING:
    from typing import NoReturn  # noqa: F401 - used in a type comment

MINIMUM_PYTHON = (3, 11)
# import name -> the name pip installs it under
DEPENDENCIES = (
    ("cryptography", "cryptography"),
    ("yaml", "PyYAML"),
    ("tomli_w", "tomli-w"),
    ("Crypto", "pycryptodome"),
)
# What one command needs beyond DEPENDENCIES: the other four never load gRPC.
COMMAND_DEPENDENCIES = {
    "manage_chain.py": (("grpc", "grpcio"), ("google.protobuf", "protobuf"), ("coincurve", "coincurve")),
}


def _fail(prog, message):
    # type: (str, str) -> NoReturn
    sys.stderr.write("%s: error: %s\n" % (prog, message))
    raise SystemExit(1)


def _installed(module):
    # type: (str) -> bool
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # `google` itself missing, or a module set to None
        return False


def require_runtime(prog):
    # type: (str) -> None
    """Exit with one line on stderr unless this Python and the dependencies can run runner_k8s."""
    version = tuple(sys.version_info[:2])
    if version < MINIMUM_PYTHON:
        _fail(
            prog,
            "runner_k8s needs Python %d.%d or newer, but this is Python %d.%d; run it with a newer python3"
            % (MINIMUM_PYTHON + version),
        )
    needed = DEPENDENCIES + COMMAND_DEPENDENCIES.get(prog, ())
    missing = [package for module, package in needed if not _installed(module)]
    if missing:
        _fail(
            prog,
            "missing Python package(s) %s; install them with `python3 -m pip install -r requirements.txt` "
            "in the repository, or install runner_k8s with `pip install .`" % ", ".join(missing),
        )


def _run(prog, module):
    # type: (str, str) -> int
    require_runtime(prog)
    import importlib

    code = importlib.import_module("runner_k8s.scripts." + module).main()  # type: int
    return code


def create_k8s_config():
    # type: () -> int
    """Console entry point of create_k8s_config.py."""
    return _run("create_k8s_config.py", "create_k8s_config")


def create_pvc():
    # type: () -> int
    """Console entry point of create_pvc.py."""
    return _run("create_pvc.py", "create_pvc")


def create_account():
    # type: () -> int
    """Console entry point of create_account.py."""
    return _run("create_account.py", "create_account")


def create_syncthing_config():
    # type: () -> int
    """Console entry point of create_syncthing_config.py."""
    return _run("create_syncthing_config.py", "create_syncthing_config")


def manage_chain():
    # type: () -> int
    """Console entry point of manage_chain.py."""
    return _run("manage_chain.py", "manage_chain")
