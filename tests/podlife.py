"""What a kubelet does with a pod over time, shared by the live harness and the fast fake cluster.

A pod a `kubectl apply` made is Pending until its containers start, some seconds later; `kubectl
port-forward`, `exec` and `cp` refuse it until then, as kubectl does. With restartPolicy Always, a
container that exits is started again after a back-off that doubles from 10 s up to 5 min, and starts
again from 10 s once a container has run for 10 min (the kubelet's CrashLoopBackOff).
"""

from __future__ import annotations

from dataclasses import dataclass, field

BACKOFF_FIRST = 10.0  # seconds
BACKOFF_MAX = 300.0
BACKOFF_RESET = 600.0  # a container that ran this long starts its back-off again from BACKOFF_FIRST
PENDING, RUNNING = "Pending", "Running"


@dataclass
class Restarts:
    """Each container's exits and restarts, by `pod/container`; `scale` shortens the kubelet's delays (fast tests)."""

    scale: float = 1.0
    started: dict[str, float] = field(default_factory=dict)
    crashes: dict[str, int] = field(default_factory=dict)  # exits in a row, since the last long run
    due: dict[str, float] = field(default_factory=dict)  # when an exited container starts again
    counts: dict[str, int] = field(default_factory=dict)  # kubectl's RESTARTS
    history: list[str] = field(default_factory=list)  # every exit: "pod/container (exit N)"

    def start(self, key: str, now: float) -> None:
        """The container's process started (first start or a restart)."""
        if key in self.due:
            self.counts[key] = self.counts.get(key, 0) + 1
            del self.due[key]
        self.started[key] = now

    def exit(self, key: str, code: int, now: float) -> float:
        """The container's process ended: when the kubelet starts it again."""
        self.history.append(f"{key} (exit {code})")
        if now - self.started.get(key, now) >= BACKOFF_RESET:
            self.crashes[key] = 0
        self.crashes[key] = self.crashes.get(key, 0) + 1
        delay = min(BACKOFF_FIRST * 2 ** (self.crashes[key] - 1), BACKOFF_MAX) * self.scale
        self.due[key] = now + delay
        return self.due[key]

    def waiting(self, key: str, now: float) -> bool:
        """True while an exited container waits out its back-off (CrashLoopBackOff)."""
        return key in self.due and now < self.due[key]

    def forget(self, pod: str) -> None:
        """The pod is gone (deleted, or stopped by a test): its containers start afresh next time."""
        for table in (self.started, self.crashes, self.due):
            for key in [key for key in table if key.startswith(f"{pod}/")]:
                del table[key]
