"""The commands a printed plan runs, played against the live harness: kubectl, minikube, scp and ssh.

A plan printed by add_node or remove_node is run as printed, by bash, with this folder's stand-ins
first on PATH. Each stand-in (fakecli_client.py under those names) sends its arguments to the
`PlanServer` of the test process, which does to the harness's cluster what the real tool would do to
a real one: `kubectl apply` starts the pods of new workloads, `kubectl delete` stops and removes
objects, `kubectl cp` and `exec` reach into a running container, `kubectl port-forward` forwards a
loopback port to a pod, `kubectl get secret` reads a Secret; `minikube ssh` (mkdir, rm, chown) and `scp` reach the
cluster storage (a folder of the test) under the path the claim names.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import socket
import socketserver
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.live.kubelet import WORKLOADS, Cluster

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("kubectl", "minikube", "scp", "ssh")
EXEC_TIMEOUT = 1800  # seconds
MINIKUBE_IP = "192.0.2.254"  # TEST-NET-1: never reached, only passed back to the stand-ins
KINDS = {"statefulset": "StatefulSet", "service": "Service", "secret": "Secret", "networkpolicy": "NetworkPolicy"}


@dataclass
class Reply:
    """What a stand-in prints and exits with; `forward` asks it to serve a port-forward itself."""

    code: int = 0
    stdout: str = ""
    stderr: str = ""
    forward: tuple[str, int, int] | None = None  # (pod address, pod port, local port)


@dataclass
class PlanServer:
    """Answers the stand-ins for one cluster; `storage` maps a path on the 'cluster node' to a test folder."""

    cluster: Cluster
    storage: Mapping[str, Path]  # remote path prefix -> local folder (e.g. /home/docker/cita-cloud-datadir)
    addresses: dict[str, str] = field(default_factory=dict)  # new workload -> its pod address (multi_cluster)
    log: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)

    def handle(self, tool: str, argv: list[str], cwd: str) -> Reply:
        self.log.append(f"{tool} {shlex.join(argv)}")
        try:
            if tool == "kubectl":
                return self.kubectl(argv, Path(cwd))
            if tool == "minikube":
                return self.minikube(argv)
            if tool == "scp":
                return self.scp(argv, Path(cwd))
            return Reply(1, stderr=f"fakecli: {tool} is not played here\n")
        except Exception as exc:
            return Reply(1, stderr=f"fakecli: {tool} {shlex.join(argv)}: {type(exc).__name__}: {exc}\n")

    # --- kubectl ------------------------------------------------------------------------------------
    def kubectl(self, argv: list[str], cwd: Path) -> Reply:
        options, words, command = parse_kubectl(argv)
        verb = words[0]
        if verb == "apply":
            return self.apply(cwd / options["-f"])
        if verb == "delete":
            return self.delete(words[1:], options)
        if verb == "cp":
            return self.copy_into_pod(cwd / words[1], words[2], options["-c"])
        if verb == "exec":
            # A command the plan bounds itself (`timeout 900 ...`): the harness waits for it, as kubectl does.
            result = self.cluster.exec_in(workload_of(words[1]), options["-c"], command, timeout=EXEC_TIMEOUT)
            return Reply(result.returncode, result.stdout, result.stderr)
        if verb == "port-forward":
            pod = workload_of(words[1].removeprefix("pod/"))
            local, remote = (int(part) for part in words[2].split(":"))
            return Reply(forward=(self.cluster.pods[pod].address, remote, local))
        if verb == "get" and words[1] == "secret":
            secret = self.cluster.objects[("Secret", words[2])]
            key = re.fullmatch(r"jsonpath=\{\.data\.(.+)\}", options["-o"])
            assert key is not None, options["-o"]
            return Reply(stdout=secret["data"][key.group(1).replace("\\.", ".")])
        return Reply(1, stderr=f"fakecli: kubectl {verb} is not played here\n")

    def apply(self, path: Path) -> Reply:
        before = set(self.cluster.pods)
        documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        named = {doc["metadata"]["name"] for doc in documents if doc["kind"] in WORKLOADS}
        wanted = {name: address for name, address in self.addresses.items() if name in named - before}
        remade = self.cluster.load([path], self.cluster.storage, wanted)
        for name in remade:  # a changed pod template: Kubernetes rolls the pod
            self.restarted.append(name)
            self.cluster.stop_pod(name)
            self.cluster.start_pod(name)
        for name in sorted(set(self.cluster.pods) - before):
            self.cluster.start_pod(name)
        return Reply(stdout=f"applied {path.name}\n")

    def delete(self, targets: list[str], options: Mapping[str, str]) -> Reply:
        selector = options.get("-l")
        deleted = []
        if selector is not None:
            key, _, value = selector.partition("=")
            kinds = {KINDS.get(kind, kind) for kind in targets[0].split(",")}
            if "pod" in kinds:
                return self.restart_pods(lambda labels: labels.get(key) == value)
            for (kind, name), doc in list(self.cluster.objects.items()):
                if kind in kinds and doc["metadata"].get("labels", {}).get(key) == value:
                    deleted.append(self.cluster.delete(kind, name) and f"{kind}/{name}")
        else:
            if targets and targets[0] == "pod":
                return self.restart_pods(lambda labels: labels.get("statefulset.kubernetes.io/pod-name") in targets[1:])
            for target in targets:
                kind, _, name = target.partition("/")
                if self.cluster.delete(KINDS[kind], name):
                    deleted.append(target)
                elif "--ignore-not-found" not in options:
                    return Reply(1, stderr=f'Error from server (NotFound): {kind} "{name}" not found\n')
        return Reply(stdout="".join(f"{item} deleted\n" for item in deleted if item))

    def restart_pods(self, chosen: Any) -> Reply:
        """`kubectl delete pod`: the StatefulSets make the chosen pods again, all at once."""
        names = [
            name
            for name, pod in self.cluster.pods.items()
            if chosen({**pod.labels, "statefulset.kubernetes.io/pod-name": f"{name}-0"})
        ]
        for name in names:
            self.cluster.stop_pod(name, grace=5.0)
        for name in names:
            self.cluster.start_pod(name)
        self.restarted += names
        return Reply(stdout="".join(f'pod "{name}-0" deleted\n' for name in names))

    def copy_into_pod(self, source: Path, target: str, container: str) -> Reply:
        pod_name, _, path = target.partition(":")
        local = self.mounted_path(workload_of(pod_name), container, path)
        shutil.copyfile(source, local)
        return Reply()

    def mounted_path(self, workload: str, container: str, path: str) -> Path:
        """Where a path inside a container lies in the cluster storage (it must be on the claim)."""
        template = self.cluster.templates[workload]["spec"]
        spec = next(c for c in template["containers"] if c["name"] == container)
        volumes = {volume["name"]: volume for volume in template["volumes"]}
        for mount in sorted(spec["volumeMounts"], key=lambda m: -len(m["mountPath"])):
            prefix = mount["mountPath"].rstrip("/") + "/"
            claim = volumes[mount["name"]].get("persistentVolumeClaim", {}).get("claimName")
            if path.startswith(prefix) and claim is not None:
                return Path(self.cluster.storage[claim]) / str(mount.get("subPath", "")) / path[len(prefix) :]
        raise ValueError(f"{path} is on no volume of {workload}/{container}")

    # --- the cluster node's storage: minikube and scp -------------------------------------------------
    def local(self, remote: str) -> Path:
        for prefix, folder in self.storage.items():
            if remote == prefix or remote.startswith(prefix.rstrip("/") + "/"):
                return folder / remote[len(prefix) :].lstrip("/")
        raise ValueError(f"{remote} is on no storage this test plays")

    def minikube(self, argv: list[str]) -> Reply:
        if argv == ["ssh-key"]:
            return Reply(stdout="/dev/null\n")
        if argv == ["ip"]:
            return Reply(stdout=f"{MINIKUBE_IP}\n")
        if argv[:2] == ["ssh", "--"]:
            words = shlex.split(" ".join(argv[2:]))
            words = words[1:] if words[:1] == ["sudo"] else words
            if words[:2] == ["mkdir", "-p"]:
                self.local(words[2]).mkdir(parents=True, exist_ok=True)
                return Reply()
            if words[:2] == ["rm", "-rf"]:
                shutil.rmtree(self.local(words[2]), ignore_errors=True)
                return Reply()
            if words[:2] == ["chown", "-R"] and len(words) == 4:  # the chain user of v6.7.4's images
                owner = subprocess.run(
                    ["chown", "-R", words[2], str(self.local(words[3]))], check=False, capture_output=True, text=True
                )
                return Reply(owner.returncode, stderr=owner.stderr)
        return Reply(1, stderr=f"fakecli: minikube {shlex.join(argv)} is not played here\n")

    def scp(self, argv: list[str], cwd: Path) -> Reply:
        words = [word for index, word in enumerate(argv) if word != "-r" and (index == 0 or argv[index - 1] != "-i")]
        words = [word for word in words if word != "-i"]
        *sources, target = words
        _, _, remote = target.partition(":")
        destination = self.local(remote)
        for source in sources:
            path = cwd / source
            into = destination / path.name if remote.endswith("/") else destination
            if path.is_dir():
                shutil.copytree(path, into, dirs_exist_ok=True)
            else:
                shutil.copyfile(path, into)
        return Reply()


def workload_of(pod: str) -> str:
    """The StatefulSet of pod `<name>-0`."""
    return pod.removesuffix("-0")


def parse_kubectl(argv: list[str]) -> tuple[dict[str, str], list[str], list[str]]:
    """(options with their values, the other words, what follows `--`)."""
    options: dict[str, str] = {}
    words: list[str] = []
    command: list[str] = []
    position = 0
    while position < len(argv):
        word = argv[position]
        if word == "--":
            command = argv[position + 1 :]
            break
        if word in ("-n", "-c", "-f", "-l", "-o"):
            options[word] = argv[position + 1]
            position += 2
            continue
        if word.startswith("--"):
            options[word] = ""
        else:
            words.append(word)
        position += 1
    return options, words, command


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        request = json.loads(self.rfile.readline())
        server = self.server.plan  # type: ignore[attr-defined]
        reply = server.handle(request["tool"], request["argv"], request["cwd"])
        self.wfile.write(json.dumps(reply.__dict__).encode() + b"\n")


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


@contextlib.contextmanager
def stand_ins(plan: PlanServer, scratch: Path) -> Iterator[dict[str, str]]:
    """A PATH with the stand-ins first and the socket they call: the environment to run a plan in."""
    bin_dir = scratch / "fake-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        link = bin_dir / tool
        link.unlink(missing_ok=True)
        body = (
            f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
            f"from tests.live.fakecli_client import main\nsys.exit(main({tool!r}))\n"
        )
        link.write_text(f"#!{sys.executable}\n{body}")
        link.chmod(link.stat().st_mode | stat.S_IXUSR)
    address = str(scratch / "fakecli.sock")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(address)
    server = _Server(address, _Handler)
    server.plan = plan  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "RK8S_FAKECLI": address}
    finally:
        server.shutdown()
        server.server_close()


def call(address: str, tool: str, argv: list[str], cwd: str) -> dict[str, Any]:
    """What a stand-in does: one request, one reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(address)
        sock.sendall(json.dumps({"tool": tool, "argv": argv, "cwd": cwd}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return dict(json.loads(data))


__all__ = ["WORKLOADS", "PlanServer", "call", "stand_ins"]
