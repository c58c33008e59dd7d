"""kubectl's command line as its reference documents it (kubectl options, apply, delete, cp, exec, port-forward,
get, rollout status, wait), and how kubectl reads it (cobra and pflag).

One table, shared by the plan parser of the fast tests (tests/planparse.py) and the stand-in kubectl of
the harnesses (tests/live/fakecli.py), so both refuse what kubectl refuses: an unknown verb, an unknown
flag (`error: unknown flag: --x`), a flag without its value, a resource type the API server does not
have. Flags of the kinds pflag knows: a value flag takes the next word or `=value`; a boolean one is
true alone, or takes `=false`; a flag with a default for its bare form (`--dry-run`, `--cascade`,
`--validate`) takes a value only after `=`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VALUE, BOOL, BARE_DEFAULT = "value", "bool", "bare-default"


@dataclass(frozen=True)
class Flag:
    """One flag: its long name, its shorthand, and how it takes a value."""

    name: str
    short: str | None = None
    kind: str = VALUE


def flags(*items: Flag) -> dict[str, Flag]:
    return {item.name: item for item in items}


# `kubectl options`: the flags every command inherits.
GLOBAL = flags(
    Flag("as"), Flag("as-group"), Flag("as-uid"), Flag("as-user-extra"), Flag("cache-dir"),
    Flag("certificate-authority"), Flag("client-certificate"), Flag("client-key"), Flag("cluster"), Flag("context"),
    Flag("disable-compression", kind=BOOL), Flag("insecure-skip-tls-verify", kind=BOOL), Flag("kubeconfig"),
    Flag("match-server-version", kind=BOOL), Flag("namespace", "n"), Flag("password"), Flag("profile"),
    Flag("profile-output"), Flag("request-timeout"), Flag("server", "s"), Flag("tls-server-name"), Flag("token"),
    Flag("user"), Flag("username"), Flag("warnings-as-errors", kind=BOOL), Flag("v", "v"), Flag("vmodule"),
    Flag("log-flush-frequency"), Flag("help", "h", BOOL),
)  # fmt: skip

FILENAMES = (Flag("filename", "f"), Flag("kustomize", "k"), Flag("recursive", "R", BOOL))
VERBS: dict[str, dict[str, Flag]] = {
    "apply": flags(
        *FILENAMES, Flag("all", kind=BOOL), Flag("allow-missing-template-keys", kind=BOOL),
        Flag("cascade", kind=BARE_DEFAULT), Flag("dry-run", kind=BARE_DEFAULT), Flag("field-manager"),
        Flag("force", kind=BOOL), Flag("force-conflicts", kind=BOOL), Flag("grace-period"), Flag("output", "o"),
        Flag("overwrite", kind=BOOL), Flag("prune", kind=BOOL), Flag("prune-allowlist"), Flag("selector", "l"),
        Flag("server-side", kind=BOOL), Flag("show-managed-fields", kind=BOOL), Flag("template"), Flag("timeout"),
        Flag("validate", kind=BARE_DEFAULT), Flag("wait", kind=BOOL),
    ),
    "delete": flags(
        *FILENAMES, Flag("all", kind=BOOL), Flag("all-namespaces", "A", BOOL), Flag("cascade", kind=BARE_DEFAULT),
        Flag("dry-run", kind=BARE_DEFAULT), Flag("field-selector"), Flag("force", kind=BOOL), Flag("grace-period"),
        Flag("ignore-not-found", kind=BOOL), Flag("interactive", "i", BOOL), Flag("now", kind=BOOL),
        Flag("output", "o"), Flag("raw"), Flag("selector", "l"), Flag("timeout"), Flag("wait", kind=BOOL),
    ),
    "cp": flags(Flag("container", "c"), Flag("no-preserve", kind=BOOL), Flag("retries")),
    "exec": flags(
        Flag("container", "c"), Flag("filename", "f"), Flag("pod-running-timeout"), Flag("quiet", "q", BOOL),
        Flag("stdin", "i", BOOL), Flag("tty", "t", BOOL),
    ),
    "port-forward": flags(Flag("address"), Flag("pod-running-timeout")),
    "get": flags(
        *FILENAMES, Flag("all-namespaces", "A", BOOL), Flag("allow-missing-template-keys", kind=BOOL),
        Flag("chunk-size"), Flag("field-selector"), Flag("ignore-not-found", kind=BOOL), Flag("label-columns", "L"),
        Flag("no-headers", kind=BOOL), Flag("output", "o"), Flag("output-watch-events", kind=BOOL), Flag("raw"),
        Flag("selector", "l"), Flag("server-print", kind=BOOL), Flag("show-kind", kind=BOOL),
        Flag("show-labels", kind=BOOL), Flag("show-managed-fields", kind=BOOL), Flag("sort-by"), Flag("subresource"),
        Flag("template"), Flag("watch", "w", BOOL), Flag("watch-only", kind=BOOL),
    ),
    "rollout status": flags(
        *FILENAMES, Flag("revision"), Flag("selector", "l"), Flag("timeout"), Flag("watch", "w", BOOL)
    ),
    "scale": flags(
        *FILENAMES, Flag("all", kind=BOOL), Flag("allow-missing-template-keys", kind=BOOL),
        Flag("current-replicas"), Flag("dry-run", kind=BARE_DEFAULT), Flag("output", "o"), Flag("replicas"),
        Flag("resource-version"), Flag("selector", "l"), Flag("show-managed-fields", kind=BOOL), Flag("template"),
        Flag("timeout"),
    ),
    "wait": flags(
        *FILENAMES, Flag("all", kind=BOOL), Flag("all-namespaces", "A", BOOL),
        Flag("allow-missing-template-keys", kind=BOOL), Flag("field-selector"), Flag("for"), Flag("local", kind=BOOL),
        Flag("output", "o"), Flag("selector", "l"), Flag("show-managed-fields", kind=BOOL), Flag("template"),
        Flag("timeout"),
    ),
}  # fmt: skip
GROUPS = {"rollout": ("status",)}  # verbs with sub-verbs (only those the plans use)

# Resource types the API server has (the ones a chain is made of, and a few more), by every name kubectl takes.
KINDS = {
    "StatefulSet": ("statefulset", "statefulsets", "sts", "statefulset.apps", "statefulsets.apps"),
    "Service": ("service", "services", "svc"),
    "Secret": ("secret", "secrets"),
    "NetworkPolicy": (
        "networkpolicy", "networkpolicies", "netpol", "networkpolicy.networking.k8s.io",
        "networkpolicies.networking.k8s.io",
    ),
    "EndpointSlice": (
        "endpointslice", "endpointslices", "endpointslice.discovery.k8s.io", "endpointslices.discovery.k8s.io",
    ),
    "Pod": ("pod", "pods", "po"),
    "PersistentVolumeClaim": ("persistentvolumeclaim", "persistentvolumeclaims", "pvc"),
    "PersistentVolume": ("persistentvolume", "persistentvolumes", "pv"),
    "StorageClass": ("storageclass", "storageclasses", "sc"),
    "Deployment": ("deployment", "deployments", "deploy"),
}  # fmt: skip
KIND_OF = {name: kind for kind, spellings in KINDS.items() for name in spellings}
PLURAL = {"StatefulSet": "statefulsets.apps", "NetworkPolicy": "networkpolicies.networking.k8s.io"}


class KubectlError(Exception):
    """What kubectl prints (its first line) when it refuses a command line; it exits 1."""

    def __init__(self, message: str, verb: str = "") -> None:
        super().__init__(message)
        self.verb = verb

    def output(self) -> str:
        """Both lines kubectl prints on stderr."""
        where = f"kubectl {self.verb} --help" if self.verb else "kubectl --help"
        return f"{self}\nSee '{where}' for usage.\n"


@dataclass
class Call:
    """A kubectl command line, read as kubectl reads it."""

    verb: str  # "apply", "rollout status", ...
    options: dict[str, str] = field(default_factory=dict)  # long flag name -> value ("true" for a bare boolean)
    args: list[str] = field(default_factory=list)  # the positional words
    command: list[str] = field(default_factory=list)  # what follows `--` (exec)

    def option(self, name: str, default: str | None = None) -> str | None:
        return self.options.get(name, default)

    def boolean(self, name: str) -> bool:
        return self.options.get(name, "false").lower() in ("true", "1", "t")


def kind_of(word: str) -> str:
    """The Kind a resource type names (`sts` -> StatefulSet); KubectlError as the API server answers."""
    kind = KIND_OF.get(word.lower())
    if kind is None:
        raise KubectlError(f'error: the server doesn\'t have a resource type "{word}"')
    return kind


def targets(call: Call) -> list[tuple[str, str]]:
    """(Kind, name) of each `type/name` or `type name [name...]` argument."""
    if not call.args:
        return []
    if all("/" in arg for arg in call.args):
        return [(kind_of(arg.split("/", 1)[0]), arg.split("/", 1)[1]) for arg in call.args]
    if any("/" in arg for arg in call.args):
        raise KubectlError("error: there is no need to specify a resource type as a separate argument when passing "
                           "arguments in resource/name form")  # fmt: skip
    kinds = [kind_of(word) for word in call.args[0].split(",")]
    return [(kind, name) for kind in kinds for name in call.args[1:]]


def parse(argv: list[str]) -> Call:
    """Read argv as kubectl does; KubectlError with kubectl's message when it would refuse it."""
    call = Call("")
    try:
        return _parse(argv, call)
    except KubectlError as error:
        raise KubectlError(str(error), call.verb) from None


def _parse(argv: list[str], call: Call) -> Call:
    known = dict(GLOBAL)
    verb: str | None = None
    position = 0
    while position < len(argv):
        word = argv[position]
        position += 1
        if word == "--":
            call.command = argv[position:]
            break
        if word.startswith("--"):
            name, equals, value = word[2:].partition("=")
            flag = known.get(name)
            if flag is None:
                raise KubectlError(f"error: unknown flag: --{name}")
            position = _take(call, flag, f"--{name}", equals, value, argv, position)
        elif word.startswith("-") and len(word) > 1:
            position = _shorthands(call, known, word, argv, position)
        elif verb is None:
            verb = word
            if verb in GROUPS:
                if position >= len(argv) or argv[position] not in GROUPS[verb]:
                    raise KubectlError(f'error: unknown command "{" ".join(argv[position:position + 1])}" for '
                                       f'"kubectl {verb}"')  # fmt: skip
                verb = f"{verb} {argv[position]}"
                position += 1
            if verb not in VERBS:
                raise KubectlError(f'error: unknown command "{verb}" for "kubectl"')
            call.verb = verb
            known.update(VERBS[verb])
        else:
            call.args.append(word)
    if verb is None:
        raise KubectlError("error: no command given (kubectl VERB ...)")
    return call


def _take(call: Call, flag: Flag, spelled: str, equals: str, value: str, argv: list[str], position: int) -> int:
    if equals:
        call.options[flag.name] = value
        return position
    if flag.kind == BOOL:
        call.options[flag.name] = "true"
        return position
    if flag.kind == BARE_DEFAULT:
        call.options[flag.name] = ""
        return position
    if position >= len(argv):
        raise KubectlError(f"error: flag needs an argument: {spelled}")
    call.options[flag.name] = argv[position]
    return position + 1


def _shorthands(call: Call, known: dict[str, Flag], word: str, argv: list[str], position: int) -> int:
    by_short = {flag.short: flag for flag in known.values() if flag.short}
    letters = word[1:]
    while letters:
        letter, letters = letters[0], letters[1:]
        flag = by_short.get(letter)
        if flag is None:
            raise KubectlError(f"error: unknown shorthand flag: '{letter}' in {word}")
        if flag.kind == VALUE:
            value = letters.removeprefix("=")
            if value:
                call.options[flag.name] = value
                return position
            if position >= len(argv):
                raise KubectlError(f"error: flag needs an argument: '{letter}' in {word}")
            call.options[flag.name] = argv[position]
            return position + 1
        call.options[flag.name] = "true" if flag.kind == BOOL else ""
    return position
