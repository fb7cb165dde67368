"""Gathering what `netiso matrix` and `netiso explain` reason about: files, a live cluster, and
a profile's policies for namespaces that would opt in.

Top layer beside cli and inspection: reads files (-f) or the cluster (cluster.inventory),
renders a profile (rendering) and turns objects into a reachability Snapshot. Bad input is an
InputError naming the file, the object and the field; the commands print it and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from netiso import conventions
from netiso.cli.exits import ClusterError, InputError
from netiso.cli.inputs import add_connection_options, read_input
from netiso.cli.targets import SERVICE, Reference
from netiso.model.documents import DocumentError, load_documents
from netiso.model.dumps import load_dump
from netiso.model.namespaces import NamespaceFacts
from netiso.model.parsing import parse_profile
from netiso.model.problems import ProfileError
from netiso.reachability.accessors import ObjectError
from netiso.reachability.policies import Interner, Policy, parse_network_policy
from netiso.reachability.services import (
    CONTROLLER_KINDS,
    Controller,
    Service,
    parse_controller,
    parse_service,
)
from netiso.reachability.snapshots import HostNetwork, Options, Snapshot, make_snapshot
from netiso.reachability.workloads import (
    TEMPLATE_PATHS,
    Namespace,
    Pod,
    namespace_of,
    parse_namespace,
    parse_pod,
    parse_workload,
)

_SUFFIXES: Final = frozenset({".yaml", ".yml", ".json"})
# Below this much input a second process costs more than it saves.
_PARALLEL_BYTES: Final = 2 * 2**20


@dataclass
class Objects:
    """Parsed objects, in input order, with where each pod came from (for duplicate errors)."""

    namespaces: list[Namespace] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)
    # Equal rules and selectors stored once: memory follows distinct content, not policy count.
    interner: Interner = field(default_factory=Interner)
    services: list[Service] = field(default_factory=list)
    controllers: list[Controller] = field(default_factory=list)


@dataclass(frozen=True)
class Gathered:
    """A command's snapshot, the namespace a target without one is looked for in (-n, else
    the kubeconfig context's, else `default`), and, when asked for, the snapshot without
    --profile (to show what the profile changes)."""

    snapshot: Snapshot
    namespace: str
    before_profile: Snapshot | None = None


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """The options every reachability command takes: inputs, profile, plugin conventions."""
    parser.add_argument(
        "-f",
        "--filename",
        dest="files",
        action="append",
        default=[],
        metavar="PATH",
        help="YAML/JSON file or directory (recursive), repeatable; default: the live cluster",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="add this IsolationProfile's policies to the namespaces given with --namespace "
        "(or, without it, to those labelled for the profile)",
    )
    parser.add_argument(
        "--host-network",
        choices=[mode.value for mode in HostNetwork],
        default=HostNetwork.NODE.value,
        help="hostNetwork pods: 'node' (default) treats their traffic as the node's: never "
        "isolated, matched by ipBlock only; 'pod' treats them as ordinary pods",
    )
    parser.add_argument(
        "--ip-blocks-match-pods",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="whether ipBlock peers match pods whose IP the input carries (default: yes)",
    )
    add_connection_options(parser)


def add_scope_options(
    parser: argparse.ArgumentParser, *, namespace_help: str, all_help: str
) -> None:
    """`-n NAMESPACE` (repeatable) or `-A`, as kubectl spells them; what each means is the
    command's."""
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace", "-n", action="append", default=[], metavar="NAMESPACE", help=namespace_help
    )
    scope.add_argument("--all-namespaces", "-A", action="store_true", help=all_help)


def gather(args: argparse.Namespace) -> Snapshot:
    """The snapshot the arguments describe: files or the live cluster, plus --profile."""
    return gather_input(args).snapshot


def gather_input(
    args: argparse.Namespace,
    *,
    wanted: Sequence[Reference] = (),
    narrow: bool = True,
    before_profile: bool = False,
) -> Gathered:
    """The snapshot the arguments describe, with the Services and controllers `wanted`
    names (read one by one from a live cluster, so only they need permission). `narrow`: a
    single --namespace limits a live read to that namespace's pods and policies."""
    namespaces: list[str] = list(getattr(args, "namespace", None) or [])
    context_namespace = "default"
    if args.files:
        objects = read_paths([Path(name) for name in args.files])
    else:
        one = namespaces[0] if narrow and len(namespaces) == 1 else None
        objects, context_namespace = read_live(
            args, namespace=one, wanted=wanted, home=namespaces[0] if namespaces else None
        )
    before: Objects | None = None
    if args.profile:
        if before_profile:
            before = Objects(list(objects.namespaces), list(objects.pods), list(objects.policies))
        add_profile(objects, profile_file=Path(args.profile), namespaces=namespaces)
    options = Options(
        host_network=HostNetwork(args.host_network),
        ip_blocks_match_pods=args.ip_blocks_match_pods,
    )
    return Gathered(
        snapshot=snapshot_of(objects, options),
        namespace=namespaces[0] if namespaces else context_namespace,
        before_profile=None if before is None else snapshot_of(before, options),
    )


def snapshot_of(objects: Objects, options: Options) -> Snapshot:
    """The snapshot of gathered objects, under the plugin conventions `options`."""
    return make_snapshot(
        namespaces=objects.namespaces,
        pods=_without_stand_ins(objects),
        policies=objects.policies,
        options=options,
        services=objects.services,
        controllers=objects.controllers,
    )


def _without_stand_ins(objects: Objects) -> list[Pod]:
    """The pods, less the representative pod of a controller whose own pods the input holds
    (`kubectl get all -o yaml`): those pods answer for it, and it would count twice."""
    if not objects.controllers:
        return objects.pods
    running: dict[str, list[Pod]] = {}
    for pod in objects.pods:
        if not pod.kind:
            running.setdefault(pod.namespace, []).append(pod)
    replaced = {
        f"{controller.namespace}/{controller.name}[{controller.kind}]"
        for controller in objects.controllers
        if any(controller.selects(pod) for pod in running.get(controller.namespace, ()))
    }
    return [pod for pod in objects.pods if pod.key not in replaced]


def read_paths(paths: Iterable[Path]) -> Objects:
    """Objects from files and directories (recursively: *.yaml, *.yml, *.json).

    Many megabytes of YAML are parsed by two processes, half of the files each: libyaml and
    building the values take most of a large matrix's time and use one core.
    """
    files = [file for path in paths for file in _files(path)]
    sizes = [file.stat().st_size for file in files]
    if len(files) < 2 or sum(sizes) < _PARALLEL_BYTES:
        return _read_files(files)
    half, running = 0, 0
    while running < sum(sizes) / 2:
        running += sizes[half]
        half += 1
    # Imported here: a small input never pays for them.
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        second = pool.submit(_read_files, files[half:])
        objects = _read_files(files[:half])
        rest = second.result()
    objects.namespaces.extend(rest.namespaces)
    objects.policies.extend(rest.policies)
    objects.services.extend(rest.services)
    objects.controllers.extend(rest.controllers)
    for pod in rest.pods:
        _add_pod(objects, pod, origin=rest.origins[pod.key])
    return objects


def _read_files(files: Iterable[Path]) -> Objects:
    objects = Objects()
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"{file}: cannot read: {error}") from error
        _Reader(objects, file).read(text)
    return objects


@dataclass
class _Reader:
    """One file's documents into `objects`. Each document is turned into objects before the
    next is read, and a List's items one by one as they are parsed (model/dumps.py), so a
    dump never holds more than one object as plain values. `file#2` names the second
    document of a stream."""

    objects: Objects
    file: Path
    document: int = 1
    item: int = 0

    def label(self) -> str:
        return str(self.file) if self.document == 1 else f"{self.file}#{self.document}"

    def add_item(self, body: object) -> None:
        add_object(self.objects, body, label=f"{self.label()} items[{self.item}]")
        self.item += 1

    def read(self, text: str) -> None:
        if self.file.suffix == ".json":
            try:
                body = json.loads(text)
            except json.JSONDecodeError as error:
                raise InputError(f"{self.file}: invalid JSON: {error}") from error
            add_object(self.objects, body, label=self.label())
            return
        try:
            for body in load_dump(text, source=str(self.file), on_item=self.add_item):
                if body is not None:
                    add_object(self.objects, body, label=self.label())
                    self.document += 1
                    self.item = 0
        except DocumentError as error:
            raise InputError(str(error)) from error


def _files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        yield from sorted(
            child for child in path.rglob("*") if child.is_file() and child.suffix in _SUFFIXES
        )
    elif path.exists():
        yield path
    else:
        raise InputError(f"{path}: no such file or directory")


def add_object(objects: Objects, body: object, *, label: str) -> None:
    """Add one object (or the items of a List); other kinds are skipped with a note on stderr."""
    if not isinstance(body, Mapping):
        raise InputError(f"{label}: must be a Kubernetes object, got {type(body).__name__}")
    kind = body.get("kind")
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in body):
        items = body.get("items") or []
        if not isinstance(items, list):
            raise InputError(f"{label}: items: must be an array")
        for index, item in enumerate(items):
            add_object(objects, item, label=f"{label} items[{index}]")
        return
    what = f"{label} ({kind} {_object_name(body)})"
    try:
        if kind == "Namespace":
            objects.namespaces.append(parse_namespace(body))
        elif kind == "NetworkPolicy":
            objects.policies.append(objects.interner.policy(parse_network_policy(body)))
        elif kind == "Pod":
            pod = parse_pod(body)
            if pod is not None:
                _add_pod(objects, pod, origin=what)
        elif kind in TEMPLATE_PATHS:
            _add_pod(objects, parse_workload(body), origin=what)
            if kind in CONTROLLER_KINDS:
                objects.controllers.append(parse_controller(body))
        elif kind == SERVICE:
            objects.services.append(parse_service(body))
        else:
            print(f"netiso: skipping {what}: not a kind reachability uses", file=sys.stderr)
    except ObjectError as error:
        raise InputError(f"{what}: {error}") from error


def _object_name(body: Mapping[str, Any]) -> str:
    metadata = body.get("metadata")
    if not isinstance(metadata, Mapping):
        return "?"
    name = metadata.get("name", "?")
    namespace = metadata.get("namespace")
    return f"{namespace}/{name}" if namespace else str(name)


def _add_pod(objects: Objects, pod: Pod, *, origin: str) -> None:
    earlier = objects.origins.get(pod.key)
    if earlier is not None:
        raise InputError(f"{origin}: {pod.key} is also defined by {earlier}")
    objects.origins[pod.key] = origin
    objects.pods.append(pod)


def read_live(
    args: argparse.Namespace,
    *,
    namespace: str | None,
    wanted: Sequence[Reference] = (),
    home: str | None = None,
) -> tuple[Objects, str]:
    """Objects from the cluster the kubeconfig points at, with the user's credentials, and
    the kubeconfig context's namespace. `wanted` objects without a namespace are read in
    `home` (-n), else in the context's namespace. Every failure (no kubeconfig, an unknown
    context, a failing exec plugin, refused credentials, a missing permission) is a
    ClusterError whose message says what to fix, as for `netiso status`."""
    # Imported here: reading files must not pay for the HTTP client's import (0.7 s).
    import asyncio

    from netiso.cli.live import explain as explain_error
    from netiso.runtime.client import ApiClient, ApiError
    from netiso.runtime.credentials import CredentialsError, load_credentials
    from netiso.runtime.inventory import read_inventory, read_named

    try:
        credentials = load_credentials(args.kubeconfig, context=args.context)
    except CredentialsError as error:
        raise ClusterError(str(error)) from error
    context_namespace = str(credentials.namespace or "default")
    home = home or context_namespace

    async def fetch() -> Objects:
        api = ApiClient(credentials, timeout=args.request_timeout, retries=3)
        try:
            inventory = await read_inventory(api, namespace=namespace)
            named = [
                await read_named(api, kind=ref.kind, namespace=ref.namespace or home, name=ref.name)
                for ref in wanted
                if ref.fetched
            ]
        finally:
            await api.close()
        objects = Objects()
        for body in inventory.namespaces:
            add_object(objects, body | {"kind": "Namespace"}, label="cluster")
        for body in inventory.pods:
            add_object(objects, body | {"kind": "Pod"}, label="cluster")
        for body in inventory.policies:
            add_object(objects, body | {"kind": "NetworkPolicy"}, label="cluster")
        for kind, found in named:
            if found is None:
                continue
            if kind == SERVICE:
                objects.services.append(_parsed(parse_service, found, kind=kind))
            else:
                objects.controllers.append(_parsed(parse_controller, found, kind=kind))
        return objects

    try:
        return asyncio.run(fetch()), context_namespace
    except ApiError as error:
        explained = explain_error(error, server=credentials.server, command=args.command)
        raise ClusterError(explained) from error
    except OSError as error:
        raise ClusterError(f"cannot read the cluster at {credentials.server}: {error}") from error


def _parsed(parse: Any, body: Mapping[str, Any], *, kind: str) -> Any:
    try:
        return parse({**body, "kind": kind})
    except ObjectError as error:
        raise InputError(f"cluster ({kind} {_object_name(body)}): {error}") from error


def add_profile(objects: Objects, *, profile_file: Path, namespaces: list[str]) -> None:
    """Render the profile for `namespaces` (default: those labelled for it) into `objects`.

    Each such namespace gets the opt-in label and the profile's policies in place of any
    policies netiso already manages there, as opting in would do. Namespaces netiso never
    isolates are left alone.
    """
    from netiso.rendering.bodies import RenderError, render_policies
    from netiso.rendering.environment import make_environment

    # A profile is read as `netiso validate` reads it: with the limits sized for profiles.
    try:
        text = read_input(str(profile_file))
        documents = [doc for doc in load_documents(text, source=str(profile_file)) if doc]
    except OSError as error:
        raise InputError(f"{profile_file}: cannot read: {error.strerror or error}") from error
    except DocumentError as error:
        raise InputError(str(error)) from error
    if len(documents) != 1 or not isinstance(documents[0], Mapping):
        raise InputError(f"{profile_file}: must hold exactly one IsolationProfile")
    try:
        profile = parse_profile(documents[0])
    except ProfileError as error:
        raise InputError(f"{profile_file}: {error}") from error
    declared = {namespace.name: namespace for namespace in objects.namespaces}
    targets = namespaces or sorted(
        name
        for name, namespace in declared.items()
        if namespace.labels.get(conventions.PROFILE_LABEL) == profile.name
    )
    environment = make_environment(None)
    for name in targets:
        if name in conventions.ALWAYS_PROTECTED_NAMESPACES:
            print(f"netiso: --profile: {name} is never isolated; left as is", file=sys.stderr)
            continue
        labels = dict(declared[name].labels if name in declared else {})
        labels[conventions.PROFILE_LABEL] = profile.name
        namespace = namespace_of(name, labels)
        objects.namespaces.append(namespace)
        objects.policies = [
            policy
            for policy in objects.policies
            if not (
                policy.namespace == name and policy.name.startswith(conventions.POLICY_NAME_PREFIX)
            )
        ]
        try:
            rendered = render_policies(environment, profile, NamespaceFacts(name, labels))
        except RenderError as error:
            raise InputError(f"{profile_file}: {error}") from error
        for policy in rendered:
            objects.policies.append(parse_network_policy(json.loads(json.dumps(policy.body))))
