"""Stand-ins for the Prometheus Operator's CRDs, for tests that apply dist/monitoring.yaml.

ServiceMonitor and PrometheusRule at their real group, version, names and scope, with a schema
that keeps every field (`x-kubernetes-preserve-unknown-fields`): the API server then accepts
and stores the monitoring objects as written, with no defaults of the real CRDs' schemas.
"""

from __future__ import annotations

from typing import Any, Final

MONITORING_GROUP: Final = "monitoring.coreos.com"
# (kind, plural, singular) of the two kinds the monitoring Component uses.
MONITORING_KINDS: Final = (
    ("ServiceMonitor", "servicemonitors", "servicemonitor"),
    ("PrometheusRule", "prometheusrules", "prometheusrule"),
)


def minimal_crd(*, kind: str, plural: str, singular: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{MONITORING_GROUP}"},
        "spec": {
            "group": MONITORING_GROUP,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": singular},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def prometheus_operator_crds() -> list[dict[str, Any]]:
    """The ServiceMonitor and PrometheusRule CRDs."""
    return [
        minimal_crd(kind=kind, plural=plural, singular=singular)
        for kind, plural, singular in MONITORING_KINDS
    ]
