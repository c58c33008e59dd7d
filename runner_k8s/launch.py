"""Start a command, or say in one line why it cannot start (an old Python, a missing package).

This module and the scripts that import it must stay parseable by old Pythons: no f-strings, no
annotations, nothing newer than Python 3.0 syntax. Everything else in runner_k8s needs 3.11.
"""

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy treats this name the same)
if TYPE_CHECKING:
    from collections.abc import Callable  # noqa: F401 - used in a type comment
    from typing import NoReturn  # noqa: F401 - used in a type comment

MINIMUM_PYTHON = (3, 11)
# import name -> the name pip installs it under
DEPENDENCIES = (
    ("cryptography", "cryptography"),
    ("yaml", "PyYAML"),
    ("tomli_w", "tomli-w"),
    ("Crypto", "pycryptodome"),
    ("py_arkworks_bls12381", "py-arkworks-bls12381"),
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


def require_python(prog):
    # type: (str) -> None
    """Exit with one line on stderr unless this Python can run runner_k8s."""
    version = tuple(sys.version_info[:2])
    if version < MINIMUM_PYTHON:
        _fail(
            prog,
            "runner_k8s needs Python %d.%d or newer, but this is Python %d.%d; run it with a newer python3"
            % (MINIMUM_PYTHON + version),
        )


def require_dependencies(prog):
    # type: (str) -> None
    """Exit with one line on stderr naming every package the command needs that is not installed."""
    needed = DEPENDENCIES + COMMAND_DEPENDENCIES.get(prog, ())
    missing = [package for module, package in needed if not _installed(module)]
    if missing:
        _fail(
            prog,
            "missing Python package(s) %s; install them with `python3 -m pip install -r requirements.txt` "
            "in the repository, or install runner_k8s with `pip install .`" % ", ".join(missing),
        )


def require_runtime(prog):
    # type: (str) -> None
    """Exit with one line on stderr unless this Python and the dependencies can run runner_k8s."""
    require_python(prog)
    require_dependencies(prog)


def _is_dependency(error, prog):
    # type: (ImportError, str) -> bool
    name = error.name or ""
    needed = DEPENDENCIES + COMMAND_DEPENDENCIES.get(prog, ())
    return any(name == module or name.startswith(module + ".") for module, _ in needed)


def missing_dependency(prog, error):
    # type: (str, ImportError) -> None
    """After a failed import: one line naming every missing package, if a dependency is the cause."""
    if _is_dependency(error, prog):
        require_dependencies(prog)


def run_command(prog, main):
    # type: (str, Callable[[], int]) -> int
    """Run a command's main(); an import of a missing package inside it ends in one line too."""
    try:
        return main()
    except ImportError as error:
        missing_dependency(prog, error)
        raise


def finish(code):
    # type: (int) -> NoReturn
    """End a command's process with `code` once its output is flushed, without the interpreter's teardown.

    When a command's main() returns, its outputs are already on disk (the writer syncs and closes every
    file) and no thread or worker process is left; the ordinary exit would still free every object and
    clear every module one at a time: 15-30 ms of a 4-node chain's run, 65-75 ms of a 100-node one's. Under
    a profiler or a tracer (coverage), or when the flush fails (a closed pipe), the ordinary exit runs
    instead, and reports as before.
    """
    import os

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        sys.exit(code)
    if sys.gettrace() is not None or sys.getprofile() is not None:
        sys.exit(code)
    os._exit(code)


def _run(prog, module, quick_exit=False):
    # type: (str, str, bool) -> int
    require_python(prog)
    import importlib

    # The packages are looked up only when an import fails: a run that has them pays nothing for the check.
    try:
        command = importlib.import_module("runner_k8s.scripts." + module)
    except ImportError as error:
        missing_dependency(prog, error)
        raise
    code = run_command(prog, command.main)
    if quick_exit:
        finish(code)
    return code


def create_k8s_config():
    # type: () -> int
    """Console entry point of create_k8s_config.py."""
    return _run("create_k8s_config.py", "create_k8s_config", quick_exit=True)


def create_pvc():
    # type: () -> int
    """Console entry point of create_pvc.py."""
    return _run("create_pvc.py", "create_pvc", quick_exit=True)


def create_account():
    # type: () -> int
    """Console entry point of create_account.py."""
    return _run("create_account.py", "create_account", quick_exit=True)


def create_syncthing_config():
    # type: () -> int
    """Console entry point of create_syncthing_config.py."""
    return _run("create_syncthing_config.py", "create_syncthing_config", quick_exit=True)


def manage_chain():
    # type: () -> int
    """Console entry point of manage_chain.py."""
    return _run("manage_chain.py", "manage_chain")
