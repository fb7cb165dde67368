"""The dataplane kit's pure parts: its configuration files and its OCI archives."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import yaml

from netiso_devkit.dataplane.images import ImageSpec, archive_for
from netiso_devkit.dataplane.nodeconfigs import (
    CGROUP_ROOT,
    GATEWAY,
    POD_CIDR,
    NodePaths,
    cni_conflist,
    containerd_toml,
    kubelet_yaml,
)
from netiso_devkit.localcluster.commandlines import SERVICE_CLUSTER_IP_RANGE


def test_pods_get_no_gateway_no_masquerade_and_a_route_to_the_service_range_only(
    tmp_path: Path,
) -> None:
    plugin = json.loads(cni_conflist(NodePaths(tmp_path)))["plugins"][0]
    assert plugin["isGateway"] is False
    assert plugin["ipMasq"] is False
    # The `kubernetes` Service's ClusterIP through the bridge's host address; no default route.
    assert plugin["ipam"]["routes"] == [{"dst": SERVICE_CLUSTER_IP_RANGE, "gw": GATEWAY}]
    assert plugin["ipam"]["ranges"][0][0]["subnet"] == POD_CIDR
    assert plugin["ipam"]["dataDir"].startswith(str(tmp_path))


def test_kubelet_runs_on_cgroup_v1_below_its_own_root_and_only_on_loopback(
    tmp_path: Path,
) -> None:
    config = yaml.safe_load(
        kubelet_yaml(NodePaths(tmp_path), client_ca=tmp_path / "ca.crt", port=1, healthz_port=2)
    )
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["cgroupRoot"] == CGROUP_ROOT
    assert config["address"] == "127.0.0.1"
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["makeIPTablesUtilChains"] is False


def test_containerd_keeps_every_file_below_the_state_directory(tmp_path: Path) -> None:
    text = containerd_toml(NodePaths(tmp_path), sandbox_image="localhost/x/pause:1")
    assert "restrict_oom_score_adj = true" in text
    assert "netns_mounts_under_state_dir = true" in text
    for key in ("root", "state", "address", "path", "conf_dir"):
        line = next(line for line in text.splitlines() if line.strip().startswith(f"{key} ="))
        assert str(tmp_path) in line, line


def test_an_image_archive_is_a_valid_oci_layout_with_its_name(tmp_path: Path) -> None:
    program = tmp_path / "prog"
    program.write_bytes(b"#!/bin/true\n")
    spec = ImageSpec("localhost/t/prog:1", {"prog": program}, ("/prog",), {"bin/p": "../prog"})
    archive = archive_for(spec, cache=tmp_path / "cache")
    assert archive_for(spec, cache=tmp_path / "cache") == archive
    with tarfile.open(archive) as tar:
        files = {m.name: tar.extractfile(m) for m in tar.getmembers() if m.isfile()}
        blobs = {name: handle.read() for name, handle in files.items() if handle}
    index = json.loads(blobs["index.json"])
    entry = index["manifests"][0]
    assert entry["annotations"]["io.containerd.image.name"] == "localhost/t/prog:1"
    for name, data in blobs.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    manifest = json.loads(blobs[f"blobs/sha256/{entry['digest'].split(':')[1]}"])
    config = json.loads(blobs[f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"])
    assert config["config"]["Entrypoint"] == ["/prog"]
    assert config["rootfs"]["diff_ids"] == [manifest["layers"][0]["digest"]]
