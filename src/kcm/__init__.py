"""kcm: a kubeconfig manager and merger for Amazon EKS."""

__version__ = "0.1.0"
