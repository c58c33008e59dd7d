"""runner_k8s: generate CITA-Cloud node folders and Kubernetes manifests."""

# No `from __future__` here: this file and launch.py must load on old Pythons, to say they are too old.
__version__ = "0.2.0"
