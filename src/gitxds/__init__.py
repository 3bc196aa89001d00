"""gitxds: a GitOps control plane for Envoy.

Declarative YAML in a Git-synced directory is validated, compiled to an internal model, translated to
Envoy xDS resources (and Istio YAML), and served over gRPC to every connected Envoy.
"""

from gitxds.errors import ConfigError, Diagnostic, GitxdsError, Reason, Severity

__all__ = ["ConfigError", "Diagnostic", "GitxdsError", "Reason", "Severity", "__version__"]

__version__ = "0.1.0"
