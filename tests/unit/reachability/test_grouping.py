"""Grouping for human output never hides a difference.

- pods in one group have the same answers to and from every other pod, outside addresses,
  and between themselves (random clusters, hypothesis);
- namespaces reported as alike answer exactly as the one shown, with the namespace renamed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.reachability_inputs import generate
from hypothesis import given

from netiso.cli.gathering import read_paths
from netiso.reachability.grouping import alike_namespaces, group_pods
from netiso.reachability.indexing import compute_matrix
from netiso.reachability.snapshots import Options, make_snapshot

from .test_properties import FAST, clusters, options, snapshot_of


@FAST
@given(clusters(), options)
def test_pods_of_a_group_behave_identically(bodies: list[dict[str, Any]], option: Options) -> None:
    matrix = compute_matrix(snapshot_of(bodies, option))
    everyone = range(len(matrix.pods))
    grouping = group_pods(matrix, list(everyone))
    assert sorted(i for members in grouping.groups for i in members) == list(everyone)
    for members in grouping.groups:
        first = members[0]
        for other in members[1:]:
            assert matrix.egress_external[other] == matrix.egress_external[first]
            assert matrix.ingress_external[other] == matrix.ingress_external[first]
            assert matrix.allowed(first, other) == matrix.allowed(other, first)
            for third in everyone:
                if third in (first, other):
                    continue
                assert matrix.allowed(other, third) == matrix.allowed(first, third)
                assert matrix.allowed(third, other) == matrix.allowed(third, first)


def test_alike_namespaces_answer_as_the_one_shown(tmp_path: Path) -> None:
    generate(tmp_path, namespaces=4)
    objects = read_paths([tmp_path])
    matrix = compute_matrix(
        make_snapshot(namespaces=objects.namespaces, pods=objects.pods, policies=objects.policies)
    )
    alike = alike_namespaces(matrix, list(range(len(matrix.pods))))
    assert alike == [("team-00000", "team-00001", "team-00002", "team-00003")]
    index = {pod.key: number for number, pod in enumerate(matrix.pods)}

    def renamed(key: str, namespace: str) -> str:
        """The key of the shown namespace's counterpart of a pod of `namespace`."""
        return key.replace(f"{namespace}/", "team-00000/", 1)

    for namespace in alike[0][1:]:
        for key, i in index.items():
            if not key.startswith(f"{namespace}/"):
                continue
            twin = index[renamed(key, namespace)]
            assert matrix.egress_external[i] == matrix.egress_external[twin]
            for other, j in index.items():
                if other == key or other.startswith("team-00000/"):
                    continue
                counterpart = index[renamed(other, namespace)]
                assert matrix.allowed(i, j) == matrix.allowed(twin, counterpart), (key, other)
                assert matrix.allowed(j, i) == matrix.allowed(counterpart, twin), (other, key)
