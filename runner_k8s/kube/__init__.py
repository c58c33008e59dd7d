"""Kubernetes objects: the builders, a node's pod, a chain's objects, PV/PVC plans."""
