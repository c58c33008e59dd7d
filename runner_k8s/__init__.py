"""runner_k8s: generate CITA-Cloud node folders and Kubernetes manifests."""

from __future__ import annotations

__version__ = "0.1.0"
