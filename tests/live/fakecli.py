"""The commands a printed plan runs, played against a harness: kubectl, minikube, scp and ssh.

A plan printed by add_node or remove_node is run as printed, by bash, with this folder's stand-ins
first on PATH. Each stand-in (fakecli_client.py under those names) sends its arguments to the
`PlanServer` of the test process, which does to the harness's cluster (the live one of kubelet.py, or
the fast model of tests/fakecluster.py) what the real tool does to a real one, no more kindly:

- kubectl reads its command line as kubectl does (tests/kubectl_cli.py: an unknown verb, flag or
  resource type is refused with kubectl's message); `--context` must name a cluster the test made.
- `kubectl apply` returns at once: new pods are Pending and start `start_delay` seconds later.
- `kubectl port-forward`, `exec` and `cp` need the pod Running and (exec, cp) the container running,
  else they fail as kubectl does; a `cp` that fails changes nothing.
- `kubectl delete` of an object that is not there fails, unless `--ignore-not-found`.
- `kubectl get TYPE/NAME` fails for what is not there (`get secret` reads a Secret); `rollout status`
  waits for the pod's Ready.
- `minikube ssh` and `scp` reach the cluster storage (a folder of the test) under the path the claim
  names; unknown options are refused as those tools refuse them.
`fail_at` makes the N-th tool call fail (exit 1, nothing done): the tests of plans stopped midway.
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
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.kubectl_cli import Call, KubectlError, kind_of, parse, targets
from tests.podlife import RUNNING

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("kubectl", "minikube", "scp", "ssh")
EXEC_TIMEOUT = 1800  # seconds
MINIKUBE_IP = "192.0.2.254"  # TEST-NET-1: never reached, only passed back to the stand-ins
WORKLOADS = ("Deployment", "StatefulSet")
PLURAL = {"StatefulSet": "statefulsets.apps", "NetworkPolicy": "networkpolicies.networking.k8s.io"}
SCP_FLAGS, SCP_VALUES = set("346ABCOpqRrsTv"), set("cDFiJloPSX")
MINIKUBE_VERBS = {"ssh": {"native-ssh": False, "node": True}, "ip": {"node": True}, "ssh-key": {"node": True}}
MINIKUBE_GLOBAL = {"profile": True, "alsologtostderr": False, "logtostderr": False, "v": True, "user": True}
MINIKUBE_SHORT = {"p": "profile", "n": "node", "v": "v"}


@dataclass
class Reply:
    """What a stand-in prints and exits with; `forward` asks it to serve a port-forward itself."""

    code: int = 0
    stdout: str = ""
    stderr: str = ""
    forward: tuple[str, int, int] | None = None  # (pod address, pod port, local port)


def not_found(kind: str, name: str) -> Reply:
    """The API server's answer for an object that is not there."""
    plural = PLURAL.get(kind, kind.lower() + "s")
    return Reply(1, stderr=f'Error from server (NotFound): {plural} "{name}" not found\n')


@dataclass
class PlanServer:
    """Answers the stand-ins for one cluster; `storage` maps a path on the 'cluster node' to a test folder.

    `contexts` maps a kubectl context to the workloads of its cluster (multi_cluster: one cluster per node);
    when set, a command must name its context and reaches only that cluster's pods.
    """

    cluster: Any  # tests.live.kubelet.Cluster or tests.fakecluster.FakeCluster
    storage: Mapping[str, Path]  # remote path prefix -> local folder (e.g. /home/docker/cita-cloud-datadir)
    addresses: dict[str, str] = field(default_factory=dict)  # new workload -> its pod address (multi_cluster)
    contexts: Mapping[str, set[str]] | None = None
    start_delay: float = 3.0  # seconds between `kubectl apply` and the new pod's start
    poll: float = 0.5
    fail_at: int | None = None  # the call number (from 1) that fails
    log: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # time.time() of each call in `log`
    restarted: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, tool: str, argv: list[str], cwd: str) -> Reply:
        with self.lock:
            self.log.append(f"{tool} {shlex.join(argv)}")
            self.times.append(time.time())
            number = len(self.log)
        if self.fail_at is not None and number == self.fail_at:
            return Reply(1, stderr=f"fakecli: call {number} fails here, by the test's choice\n")
        try:
            if tool == "kubectl":
                return self.kubectl(argv, Path(cwd))
            if tool == "minikube":
                return self.minikube(argv)
            if tool == "scp":
                return self.scp(argv, Path(cwd))
            return Reply(1, stderr=f"fakecli: {tool} is not played here\n")
        except KubectlError as error:
            return Reply(1, stderr=error.output() if error.verb else f"{error}\n")
        except Exception as exc:
            return Reply(1, stderr=f"fakecli: {tool} {shlex.join(argv)}: {type(exc).__name__}: {exc}\n")

    # --- kubectl ------------------------------------------------------------------------------------
    def kubectl(self, argv: list[str], cwd: Path) -> Reply:
        call = parse(argv)
        scope = self.scope(call)
        verb = call.verb
        if verb == "apply":
            return self.apply(cwd / str(call.option("filename")), scope, call.option("selector"))
        if verb == "delete":
            return self.delete(call, scope)
        if verb == "cp":
            return self.copy_into_pod(cwd / call.args[0], call.args[1], call.option("container"), scope)
        if verb == "exec":
            return self.exec(call, scope)
        if verb == "port-forward":
            return self.port_forward(call, scope)
        if verb == "get":
            return self.get(call, scope)
        if verb == "rollout status":
            return self.rollout_status(call, scope)
        if verb == "scale":
            return self.scale(call, scope)
        if verb == "wait":
            return self.wait(call, scope)
        return Reply(1, stderr=f"fakecli: kubectl {verb} is not played here\n")

    def scope(self, call: Call) -> Callable[[str], bool]:
        """Which workloads the command's cluster holds (all of them without contexts)."""
        if self.contexts is None:
            if call.option("context") is not None:
                raise KubectlError(f"error: context was not found for specified context: {call.option('context')}")
            return lambda name: True
        context = call.option("context")
        if context is None:
            raise KubectlError("error: the plan must say which cluster: no --context (there is no current context)")
        if context not in self.contexts:
            raise KubectlError(f"error: context was not found for specified context: {context}")
        mine = self.contexts[context]
        return lambda name: name in mine

    def pod_of(self, word: str, scope: Callable[[str], bool]) -> str:
        """The workload of pod `<name>-0` (or `pod/<name>-0`), which must be in the command's cluster."""
        pod = word.removeprefix("pod/").removeprefix("pods/")
        workload = pod.removesuffix("-0")
        if workload not in self.cluster.pods or not scope(workload) or self.cluster.pod_phase(workload) is None:
            raise KubectlError(f'Error from server (NotFound): pods "{pod}" not found')
        return workload

    def running_container(self, workload: str, container: str | None) -> str:
        if self.cluster.pod_phase(workload) != RUNNING or container is None:
            raise KubectlError(f'error: unable to upgrade connection: container not found ("{container}")')
        if not self.cluster.container_running(workload, container):
            raise KubectlError(
                f"error: unable to upgrade connection: container {container} not found in pod {workload}-0"
            )
        return container

    def apply(self, path: Path, scope: Callable[[str], bool], selector: str | None = None) -> Reply:
        before = set(self.cluster.pods)
        documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        if selector is not None:  # `-l key=value`: only the file's objects that carry the label
            key, _, value = selector.partition("=")
            documents = [doc for doc in documents if (doc["metadata"].get("labels") or {}).get(key) == value]
            with tempfile.TemporaryDirectory() as scratch:
                selected = Path(scratch) / path.name
                selected.write_text(yaml.safe_dump_all(documents))
                return self.apply(selected, scope)
        named = {doc["metadata"]["name"] for doc in documents if doc["kind"] in WORKLOADS}
        outside = sorted(name for name in named if not scope(name))
        if outside:
            return Reply(1, stderr=f"fakecli: {path.name} holds {outside}, which belong to another cluster\n")
        wanted = {name: address for name, address in self.addresses.items() if name in named - before}
        remade = self.cluster.load([path], self.cluster.storage, wanted)
        for name in remade:  # a changed pod template: Kubernetes rolls the pod
            self.restarted.append(name)
            self.cluster.stop_pod(name)
            self.cluster.schedule_start(name, self.start_delay)
        for name in sorted(set(self.cluster.pods) - before):
            self.cluster.schedule_start(name, self.start_delay)
        return Reply(
            stdout="".join(f"{doc['kind'].lower()}/{doc['metadata']['name']} configured\n" for doc in documents)
        )

    def delete(self, call: Call, scope: Callable[[str], bool]) -> Reply:
        selector = call.option("selector")
        deleted = []
        if selector is not None:
            key, _, value = selector.partition("=")
            kinds = {kind_of(kind) for kind in call.args[0].split(",")}
            if "Pod" in kinds:
                return self.restart_pods(lambda labels: labels.get(key) == value)
            for (kind, name), doc in list(self.cluster.objects.items()):
                if kind in kinds and doc["metadata"].get("labels", {}).get(key) == value:
                    deleted.append(self.cluster.delete(kind, name) and f"{kind.lower()}/{name}")
            return Reply(stdout="".join(f"{item} deleted\n" for item in deleted if item))
        found = targets(call)
        if found and found[0][0] == "Pod":
            chosen = {self.pod_of(name, scope) for _, name in found}
            return self.restart_pods(lambda labels: labels.get("workload") in chosen)
        missing = [(kind, name) for kind, name in found if (kind, name) not in self.cluster.objects]
        if missing and not call.boolean("ignore-not-found"):
            return not_found(*missing[0])
        for kind, name in found:
            if (kind, name) in self.cluster.objects:
                self.cluster.delete(kind, name)
                deleted.append(f"{kind.lower()}/{name}")
        return Reply(stdout="".join(f"{item} deleted\n" for item in deleted))

    def restart_pods(self, chosen: Callable[[dict[str, str]], bool]) -> Reply:
        """`kubectl delete pod`: the StatefulSets make the chosen pods again, all at once (Pending, then started)."""
        names = [name for name, pod in self.cluster.pods.items() if chosen({**pod.labels, "workload": name})]
        for name in names:
            self.cluster.stop_pod(name, grace=5.0)
        for name in names:
            self.cluster.schedule_start(name, self.start_delay)
        self.restarted += names
        return Reply(stdout="".join(f'pod "{name}-0" deleted\n' for name in names))

    def exec(self, call: Call, scope: Callable[[str], bool]) -> Reply:
        workload = self.pod_of(call.args[0], scope)
        container = self.running_container(workload, call.option("container"))
        # A command the plan bounds itself (`timeout 900 ...`): the harness waits for it, as kubectl does.
        result = self.cluster.exec_in(workload, container, call.command, timeout=EXEC_TIMEOUT)
        return Reply(result.returncode, result.stdout, result.stderr)

    def port_forward(self, call: Call, scope: Callable[[str], bool]) -> Reply:
        workload = self.pod_of(call.args[0], scope)
        phase = self.cluster.pod_phase(workload)
        if phase != RUNNING:
            return Reply(
                1, stderr=f"error: unable to forward port because pod is not running. Current status={phase}\n"
            )
        local, remote = (int(part) for part in call.args[1].split(":"))
        host, port = self.cluster.forward_target(workload, remote)
        return Reply(forward=(host, port, local))

    def get(self, call: Call, scope: Callable[[str], bool]) -> Reply:
        found = targets(call)
        kind, name = found[0]
        document = self.cluster.objects.get((kind, name))
        if document is None or (kind in WORKLOADS and not scope(name)):
            return not_found(kind, name)
        output = call.option("output") or ""
        key = re.fullmatch(r"jsonpath=\{\.data\.(.+)\}", output)
        if key is not None:
            return Reply(stdout=document["data"][key.group(1).replace("\\.", ".")])
        if output == "jsonpath={.spec.replicas}":
            return Reply(stdout=str(document["spec"].get("replicas", 1)))
        return Reply(stdout=f"{kind.lower()}/{name}\n")

    def rollout_status(self, call: Call, scope: Callable[[str], bool]) -> Reply:
        kind, name = targets(call)[0]
        if (kind, name) not in self.cluster.objects or not scope(name):
            return not_found(kind, name)
        timeout = parse_duration(call.option("timeout", "0s") or "0s")
        deadline = time.monotonic() + (timeout or EXEC_TIMEOUT)
        while not self.cluster.ready(name):
            if time.monotonic() >= deadline:
                return Reply(
                    1,
                    stdout="Waiting for 1 pods to be ready...\n",
                    stderr="error: timed out waiting for the condition\n",
                )
            time.sleep(self.poll)
        return Reply(stdout="partitioned roll out complete: 1 new pods have been updated...\n")

    def scale(self, call: Call, scope: Callable[[str], bool]) -> Reply:
        """`kubectl scale statefulset/NAME --replicas=N` (0 or 1): the pod goes (stopped) or comes (Pending)."""
        kind, name = targets(call)[0]
        document = self.cluster.objects.get((kind, name))
        if document is None or not scope(name):
            return not_found(kind, name)
        replicas = int(call.option("replicas") or "")
        document["spec"]["replicas"] = replicas
        if replicas == 0 and self.cluster.pod_phase(name) is not None:
            self.cluster.stop_pod(name, grace=30.0)  # the pod's default terminationGracePeriodSeconds
        elif replicas > 0 and self.cluster.pod_phase(name) is None:
            self.cluster.schedule_start(name, self.start_delay)
        return Reply(stdout=f"{kind.lower()}.apps/{name} scaled\n")

    def wait(self, call: Call, scope: Callable[[str], bool]) -> Reply:
        """`kubectl wait --for=delete pod/NAME-0`: returns once the pod is gone (at once when it is not there)."""
        if call.option("for") != "delete":
            return Reply(1, stderr=f"fakecli: kubectl wait --for={call.option('for')} is not played here\n")
        _, name = targets(call)[0]
        workload = name.removesuffix("-0")
        deadline = time.monotonic() + parse_duration(call.option("timeout", "30s") or "30s")
        while self.cluster.pod_phase(workload) is not None and scope(workload):
            if time.monotonic() >= deadline:
                return Reply(1, stderr=f"error: timed out waiting for the condition on pods/{name}\n")
            time.sleep(self.poll)
        return Reply()

    def copy_into_pod(self, source: Path, target: str, container: str | None, scope: Callable[[str], bool]) -> Reply:
        pod_name, _, path = target.partition(":")
        workload = self.pod_of(pod_name, scope)
        container = self.running_container(workload, container)
        local = self.mounted_path(workload, container, path)
        data = source.read_bytes()
        partial = local.with_name(local.name + ".kubectl-cp")
        partial.write_bytes(data)  # tar in the container: the file appears whole, or the copy failed
        partial.replace(local)
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
        verb, command = minikube_words(argv)
        if verb == "ssh-key":
            return Reply(stdout="/dev/null\n")
        if verb == "ip":
            return Reply(stdout=f"{MINIKUBE_IP}\n")
        words = shlex.split(" ".join(command))
        words = words[1:] if words[:1] == ["sudo"] else words
        if words[:2] == ["test", "-e"] and len(words) == 3:
            return Reply(0 if self.local(words[2]).exists() else 1)
        if words[:2] == ["sh", "-c"] and len(words) == 3:
            return self.storage_shell(words[2])
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

    def storage_shell(self, script: str) -> Reply:
        """A script run as root on the cluster node: by sh here, the storage paths put where the test keeps them."""
        # One pass, longest prefix first, and only where a path starts: a replaced path (the test's folder, itself
        # under /tmp) is never rewritten again by a shorter prefix such as /tmp.
        prefixes = sorted((prefix.rstrip("/") for prefix in self.storage), key=len, reverse=True)
        folders = {prefix.rstrip("/"): str(folder) for prefix, folder in self.storage.items()}
        pattern = re.compile(r"(?<![\w./-])(" + "|".join(re.escape(prefix) for prefix in prefixes) + r")(?![\w.-])")
        script = pattern.sub(lambda found: folders[found[1]], script)
        done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=600, check=False)
        return Reply(done.returncode, done.stdout, done.stderr)

    def scp(self, argv: list[str], cwd: Path) -> Reply:
        recursive, words = scp_words(argv)
        if len(words) < 2:
            return Reply(1, stderr="usage: scp [-346ABCOpqRrsTv] [-c cipher] ... source ... target\n")
        *sources, target = words
        if ":" not in target:  # from the cluster node here: `scp [-r] user@host:/remote/path local`
            return self.scp_down(sources, cwd / target, recursive)
        _, _, remote = target.partition(":")
        destination = self.local(remote)
        for source in sources:
            path = cwd / source
            into = destination / path.name if remote.endswith("/") else destination
            if path.is_dir():
                if not recursive:
                    return Reply(1, stderr=f"scp: {source}: not a regular file\n")
                shutil.copytree(path, into, dirs_exist_ok=True)
            else:
                shutil.copyfile(path, into)
        return Reply()

    def scp_down(self, sources: list[str], target: Path, recursive: bool) -> Reply:
        """Remote files here, as OpenSSH's scp copies them: a missing one fails, a folder needs -r."""
        if len(sources) > 1 and not target.is_dir():
            return Reply(1, stderr=f"scp: {target}: Not a directory\n")
        for source in sources:
            host, colon, remote = source.partition(":")
            if not colon or "/" in host:
                return Reply(1, stderr=f"fakecli: scp {source} {target}: one side must be the cluster node\n")
            path = self.local(remote)
            into = target / path.name if target.is_dir() else target
            if not path.exists():
                return Reply(1, stderr=f"scp: {remote}: No such file or directory\n")
            if path.is_dir():
                if not recursive:
                    return Reply(1, stderr=f"scp: {remote}: not a regular file\n")
                shutil.copytree(path, into, dirs_exist_ok=True)
            else:
                shutil.copyfile(path, into)
        return Reply()


def parse_duration(text: str) -> float:
    """A Go duration as kubectl's --timeout takes it (600s, 10m, 1h30m)."""
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(ms|s|m|h)", text):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    if not re.fullmatch(r"([0-9.]+(ms|s|m|h))+|0", text):
        raise KubectlError(f'error: invalid argument "{text}" for "--timeout" flag: time: invalid duration "{text}"')
    return total


def minikube_words(argv: list[str]) -> tuple[str, list[str]]:
    """(verb, the command after `--`), refusing what minikube (cobra) refuses."""
    verb, command, known = "", [], dict(MINIKUBE_GLOBAL)
    position = 0
    while position < len(argv):
        word = argv[position]
        position += 1
        if word == "--":
            command = argv[position:]
            break
        if word.startswith("-"):
            name = word.lstrip("-").split("=", 1)[0]
            name = MINIKUBE_SHORT.get(name, name) if not word.startswith("--") else name
            if name not in known:
                raise KubectlError(f"Error: unknown flag: {word}\nSee 'minikube {verb} --help' for usage.")
            if known[name] and "=" not in word:
                position += 1
        elif not verb:
            if word not in MINIKUBE_VERBS:
                raise KubectlError(f'Error: unknown command "{word}" for "minikube"')
            verb = word
            known.update(MINIKUBE_VERBS[word])
        else:
            command.append(word)
    return verb, command


def scp_words(argv: list[str]) -> tuple[bool, list[str]]:
    """(-r given, the operands), refusing an option OpenSSH's scp does not have."""
    recursive, operands, position = False, list[str](), 0
    while position < len(argv):
        word = argv[position]
        position += 1
        if word.startswith("-") and len(word) > 1 and not operands:
            for offset, letter in enumerate(word[1:]):
                if letter in SCP_VALUES:
                    position += 0 if word[offset + 2 :] else 1
                    break
                if letter not in SCP_FLAGS:
                    raise KubectlError(f"scp: unknown option -- {letter}\nusage: scp [-346ABCOpqRrsTv] [-c cipher] ...")
                recursive = recursive or letter == "r"
            continue
        operands.append(word)
    return recursive, operands


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        request = json.loads(self.rfile.readline())
        server = self.server.plan  # type: ignore[attr-defined]
        reply = server.handle(request["tool"], request["argv"], request["cwd"])
        self.wfile.write(json.dumps(reply.__dict__).encode() + b"\n")


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


@contextlib.contextmanager
def stand_ins(plan: PlanServer, scratch: Path, extra: Mapping[str, str] | None = None) -> Iterator[dict[str, str]]:
    """A PATH with the stand-ins first and the socket they call: the environment to run a plan in.

    `extra` adds programs of the test's own (name -> its Python body) to that folder.
    """
    bin_dir = scratch / "fake-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    client = Path(__file__).with_name("fakecli_client.py")
    bodies = {
        tool: f"import sys\nsys.path.insert(0, {str(client.parent)!r})\n"
        f"from fakecli_client import main\nsys.exit(main({tool!r}))\n"
        for tool in TOOLS
    }
    for name, body in {**bodies, **(extra or {})}.items():
        link = bin_dir / name
        link.unlink(missing_ok=True)
        link.write_text(f"#!{sys.executable} -S\n{body}")
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
