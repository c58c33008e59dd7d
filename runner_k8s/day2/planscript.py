"""A day-2 plan as a bash script: stages of steps, each step safe to run again, run top to bottom.

The plan is data first (stages of actions, each with the guard that skips it once it is done) and
text second: `script_steps` gives the lines add_node and remove_node print and save. The script stops
at the first step that fails (`set -euo pipefail`); since every step is either idempotent or skipped
when its effect is already there, the whole script can then be run again from the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runner_k8s.flags import shell_quote
from runner_k8s.report.reports import Step

STRICT = "set -euo pipefail  # stop at the first step that fails; every step is safe to run again from the top"
# A port-forward runs in the background: it must end with the script, whether the script ends well or not.
END_FORWARDS = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT  # the port-forwards end with the script"
SHEBANG = "#!/usr/bin/env bash"
TO_WORK_DIR = 'cd "$(dirname "$0")"  # the paths below are relative to the work dir, where this file is'


@dataclass(frozen=True)
class Action:
    """One line of the script: commands run one after the other, skipped as a whole once `skip_if` succeeds."""

    commands: tuple[str, ...]
    skip_if: str | None = None  # a command that succeeds when the step is already done
    cluster: int | None = None  # multi_cluster: the node whose cluster it runs in; None: the one cluster / here
    background: bool = False  # a port-forward: runs until the script ends
    note: str = ""  # a comment at the end of the line

    def line(self) -> str:
        """The action as one line of bash."""
        body = " && ".join(self.commands)
        if self.skip_if is not None:
            # `guard || a && b` runs b once the guard holds: a step of more than one command (or one holding an
            # operator, as an NFS mount, copy and unmount do) is grouped, so that the guard skips it whole.
            grouped = len(self.commands) > 1 or "&&" in body or "||" in body
            body = f"{self.skip_if} || " + (f"{{ {body}; }}" if grouped else body)
        if self.background:
            body += " &"
        return f"{body}  # {self.note}" if self.note else body


def comment(text: str, cluster: int | None = None) -> Action:
    """A line that only explains (something to do by hand, or why a step is not there)."""
    return Action((f"# {text}",), cluster=cluster)


@dataclass(frozen=True)
class Stage:
    """A numbered group of actions with a one-line title."""

    title: str
    actions: tuple[Action, ...]
    cluster: int | None = None


def script_steps(stages: Sequence[Stage]) -> list[Step]:
    """The lines of the script: the strict header, then each stage's title and actions."""
    steps = [Step(STRICT)]
    if any(action.background for stage in stages for action in stage.actions):
        steps.append(Step(END_FORWARDS))
    for number, stage in enumerate(stages, start=1):
        steps.append(Step(f"# {number}. {stage.title}", stage.cluster))
        steps += [Step(action.line(), action.cluster) for action in stage.actions]
    return steps


def script_text(title: str, steps: Sequence[Step]) -> str:
    """The script as saved in the work dir: what the day-2 verb printed, ready for `bash FILE`."""
    lines = [step.command for step in steps]
    return "\n".join([SHEBANG, f"# {title}", lines[0], TO_WORK_DIR, *lines[1:]]) + "\n"


@dataclass(frozen=True)
class Kubectl:
    """kubectl against one cluster: its context (multi_cluster) and the chain's namespace, before the verb."""

    context: str | None = None
    namespace: str | None = None

    def __call__(self, *words: str) -> str:
        """`kubectl [--context C] [-n NS] WORDS` (the words already quoted)."""
        parts = ["kubectl"]
        if self.context is not None:
            parts += ["--context", shell_quote(self.context)]
        if self.namespace is not None:
            parts += ["-n", shell_quote(self.namespace)]
        return " ".join([*parts, *words])

    def exists(self, kind: str, name: str) -> str:
        """A guard: succeeds (quietly) when the object is in the cluster."""
        return self("get", f"{kind}/{name}", ">/dev/null", "2>&1")
