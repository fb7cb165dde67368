"""`netiso matrix`: who can reach whom, as a grouped table, Markdown, JSON, HTML or SVG.

Top layer beside cli: gathers a snapshot (gathering), computes the matrix in the pure core
(reachability.indexing) and prints it. The JSON shape is a contract other tools rely on;
docs/explain.md describes it.
"""

from __future__ import annotations

import argparse
import functools
import io
import ipaddress
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Final, TextIO

from netiso.cli import printing
from netiso.cli.exits import Exit, UsageError
from netiso.cli.gathering import add_input_options, add_scope_options, gather_input
from netiso.cli.graphs import Graph
from netiso.cli.targets import ADDRESS, NETWORK, parse_reference, resolve_target
from netiso.model.names import dns1123_label_problem
from netiso.model.selection import LabelSelector, SelectorOperator, SelectorRequirement
from netiso.reachability.addresses import format_ipv4
from netiso.reachability.changes import changed_namespaces
from netiso.reachability.grouping import Grouping, alike_namespaces, group_pods
from netiso.reachability.indexing import External, Matrix, compute_matrix
from netiso.reachability.intervals import Intervals
from netiso.reachability.portsets import PortSet
from netiso.reachability.workloads import Pod

FORMATS: Final = (
    "text",
    "wide",
    "md",
    "json",
    "yaml",
    "name",
    "jsonpath",
    "html",
    "svg",
    "dot",
    "png",
)
PICTURES: Final = ("html", "svg", "dot", "png")
# Ranges shown per line of human output before the rest is summarised as a count.
_SHOWN_RANGES: Final = 6
# Namespaces named in a note on namespaces that behave alike.
_SHOWN_NAMESPACES: Final = 5
# Characters a terminal, a Markdown renderer or an XML parser would act on rather than show:
# C0/C1 controls (ANSI escapes), line and paragraph separators, bidirectional overrides.
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
# Markdown that would become emphasis, code, a link, a table cell or raw HTML.
_MARKDOWN = re.compile(r"[\\`*_\[\]|]")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_REQUIREMENT = re.compile(r"^\s*(?P<key>[^\s!=]+)\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)\s*$")


def add_matrix_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `netiso matrix`."""
    parser = subparsers.add_parser(
        "matrix",
        help="who can reach whom under the NetworkPolicies (files or the live cluster)",
        description="Compute which pods may connect to which, on which ports, and to and from "
        "which external IPv4 addresses. Pods that behave identically share a group. "
        "Exit 0; 2 on bad input.",
    )
    add_input_options(parser)
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="show only these and every pod they exchange traffic with: a pod (NS/POD, or POD "
        "in -n), a workload (deploy/NAME, sts/NAME, ds/NAME, rs/NAME), a Service's pods "
        "(svc/NAME) or a label selector (app=web)",
    )
    add_scope_options(
        parser,
        namespace_help="show only pods of this namespace (repeatable; live: read only it when "
        "one); with TARGETs, where they are; with --profile, also every namespace the profile "
        "changes",
        all_help="every namespace (the default); a label selector TARGET matches in all of them",
    )
    parser.add_argument(
        "--selector",
        "-l",
        metavar="SELECTOR",
        help="show only pods with these labels (kubectl syntax: a=b,c!=d,e in (f,g),!h)",
    )
    parser.add_argument(
        "--expand",
        action="append",
        default=[],
        metavar="NAMESPACE",
        help="in a picture collapsed to namespaces, draw this one's workloads (repeatable)",
    )
    printing.add_output_option(parser, formats=FORMATS, default="text", no_headers=True)
    parser.set_defaults(handler=run_matrix)


def run_matrix(args: argparse.Namespace) -> int:
    """The `netiso matrix` handler (a reader gone from the pipe is app.main's to handle)."""
    selector = parse_label_query(args.selector) if args.selector else None
    for name in args.namespace:
        if problem := dns1123_label_problem(name):
            raise UsageError(f"--namespace: {problem}, got {name!r}")
    references = [parse_reference(text, option="TARGET") for text in args.targets]
    for reference in references:
        if reference.kind in (ADDRESS, NETWORK):
            raise UsageError(
                f"TARGET: {reference.text} is an address: matrix shows pods (its External "
                "section lists addresses)"
            )
    compare = bool(args.profile and args.namespace)
    gathered = gather_input(
        args,
        wanted=references,
        narrow=not references and not args.profile,
        before_profile=compare,
    )
    snapshot = gathered.snapshot
    matrix = compute_matrix(snapshot)
    namespaces = set(args.namespace)
    if compare and gathered.before_profile is not None:
        changed = changed_namespaces(compute_matrix(gathered.before_profile), matrix)
        if changed - namespaces:
            shown_names = ", ".join(sorted(changed - namespaces))
            print(
                f"netiso: --profile also changes namespaces {shown_names}: shown too",
                file=sys.stderr,
            )
        namespaces |= changed
    if references:
        focus = {
            member.key
            for reference in references
            for member in resolve_target(
                snapshot,
                reference,
                option="TARGET",
                namespace=gathered.namespace,
                all_namespaces=args.all_namespaces,
            ).members
            if isinstance(member, Pod)
        }
        shown = _with_peers(matrix, focus)
    else:
        shown = [
            index
            for index, pod in enumerate(matrix.pods)
            if (not namespaces or pod.namespace in namespaces)
        ]
    if selector is not None:
        shown = [index for index in shown if selector.matches(matrix.pods[index].labels)]
    if args.output == "json":
        write_json(matrix, shown, stream=sys.stdout)
        return Exit.OK
    if args.output in ("yaml", "jsonpath"):
        buffer = io.StringIO()
        write_json(matrix, shown, stream=buffer)
        data = json.loads(buffer.getvalue())
        sys.stdout.write(printing.data_text(data, output=args.output, template=args.template))
        return Exit.OK
    if args.output == "name":
        sys.stdout.writelines(f"pod/{matrix.pods[i].key}\n" for i in shown)
        return Exit.OK
    if args.output == "wide":
        sys.stdout.write(connection_table(matrix, shown, headers=not args.no_headers))
        return Exit.OK
    # Namespaces that behave alike are shown once: a thousand copies of one team layout read as
    # one namespace, with the others named in a note.
    alike = alike_namespaces(matrix, shown)
    hidden = {name for names in alike for name in names[1:]}
    grouping = group_pods(matrix, [i for i in shown if matrix.pods[i].namespace not in hidden])
    if args.output in PICTURES:
        write_picture(args, matrix=matrix, grouping=grouping, notes=alike_notes(alike))
        return Exit.OK
    names = [[shown_text(matrix.pods[i].key) for i in members] for members in grouping.groups]
    sys.stdout.write(format_grouping(grouping, names, markdown=args.output == "md", alike=alike))
    return Exit.OK


def write_picture(
    args: argparse.Namespace, *, matrix: Matrix, grouping: Grouping, notes: Sequence[str]
) -> None:
    """`-o html|svg|dot|png`: the graph of the grouping, namespaces collapsed when large."""
    # Imported here: JSON and text output never need the picture code.
    from netiso.cli.graphs import TooLarge, build_graph
    from netiso.cli.pictures import (
        MAX_EXPANSIONS,
        NoRenderer,
        dot_picture,
        html_picture,
        png_picture,
        svg_picture,
    )

    def graph(expand: Sequence[str], collapse: bool | None = None) -> Graph:
        try:
            return build_graph(
                matrix, grouping, cidrs=cidrs, expand=expand, collapse=collapse, shown=shown_text
            )
        except TooLarge as error:
            raise UsageError(str(error)) from None

    overview = graph(args.expand)
    if args.output == "html":
        expandable = overview.collapsed[:MAX_EXPANSIONS]
        views = [overview] + [graph([*args.expand, ns], collapse=True) for ns in expandable]
        sys.stdout.write(html_picture(views, notes=notes, expandable=expandable))
    elif args.output == "svg":
        sys.stdout.write(svg_picture(overview))
    elif args.output == "dot":
        sys.stdout.write(dot_picture(overview))
    else:
        if sys.stdout.isatty():
            raise UsageError("-o png writes an image: redirect it to a file (> matrix.png)")
        try:
            image = png_picture(
                svg_picture(overview), width=round(overview.width), height=round(overview.height)
            )
        except NoRenderer as error:
            raise UsageError(str(error)) from None
        except (OSError, subprocess.SubprocessError) as error:
            raise UsageError(f"-o png: the renderer failed: {error}") from None
        sys.stdout.flush()
        sys.stdout.buffer.write(image)


def _with_peers(matrix: Matrix, focus: set[str]) -> list[int]:
    """The focused pods and every pod that may send to or receive from one of them."""
    chosen = {index for index, pod in enumerate(matrix.pods) if pod.key in focus}
    peers = set(chosen)
    for i, j, _ in matrix.connections():
        if i in chosen or j in chosen:
            peers.update((i, j))
    return sorted(peers)


def connection_table(matrix: Matrix, shown: Sequence[int], *, headers: bool) -> str:
    """`-o wide`: one row per allowed connection between shown pods, by their own names (not
    grouped), then one per allowed external range; pairs not listed are denied."""
    visible = set(shown)
    keys = [shown_text(pod.key) for pod in matrix.pods]
    rows = [
        [keys[i], keys[j], allowed.describe()]
        for i, j, allowed in matrix.connections()
        if i in visible and j in visible
    ]
    for i in shown:
        for ranges, allowed in matrix.egress_external[i]:
            rows.append([keys[i], ", ".join(cidrs(ranges)), allowed.describe()])
        for ranges, allowed in matrix.ingress_external[i]:
            rows.append([", ".join(cidrs(ranges)), keys[i], allowed.describe()])
    text = printing.table(["FROM", "TO", "ALLOWED"], rows, headers=headers)
    return text + "\n" if text else ""


def shown_text(text: str) -> str:
    """`text` with invisible and control characters written as escapes (`\\x1b`): a name
    from an input file prints as itself, never as a terminal command or a line break."""
    return _INVISIBLE.sub(lambda found: found[0].encode("unicode_escape").decode(), text)


def markdown_text(text: str) -> str:
    """`text` as literal Markdown: emphasis, code, link and table characters backslashed,
    HTML's `&`, `<` and `>` as entities (a `<script>` name prints as text)."""
    escaped = _MARKDOWN.sub(lambda found: "\\" + found[0], shown_text(text))
    return "".join(_HTML.get(character, character) for character in escaped)


def parse_label_query(text: str) -> LabelSelector:
    """A kubectl-style label selector: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`,
    `a`, `!a`, joined by commas."""
    labels: dict[str, str] = {}
    requirements: list[SelectorRequirement] = []
    for term in re.split(r",(?![^()]*\))", text):
        term = term.strip()
        if match := _REQUIREMENT.match(term):
            operator = SelectorOperator.IN if match["op"] == "in" else SelectorOperator.NOT_IN
            values = tuple(value.strip() for value in match["values"].split(",") if value.strip())
            requirements.append(SelectorRequirement(match["key"], operator, values))
        elif "!=" in term:
            key, _, value = term.partition("!=")
            requirements.append(
                SelectorRequirement(key.strip(), SelectorOperator.NOT_IN, (value.strip(),))
            )
        elif "=" in term:
            key, _, value = term.replace("==", "=").partition("=")
            labels[key.strip()] = value.strip()
        elif term.startswith("!") and term[1:].strip():
            requirements.append(
                SelectorRequirement(term[1:].strip(), SelectorOperator.DOES_NOT_EXIST)
            )
        elif term and re.fullmatch(r"[^\s!=(),]+", term):
            requirements.append(SelectorRequirement(term, SelectorOperator.EXISTS))
        else:
            raise UsageError(f"--selector: cannot read {term!r} in {text!r}")
    return LabelSelector.of(labels, tuple(requirements))


def write_json(matrix: Matrix, shown: Sequence[int], *, stream: TextIO) -> None:
    """The matrix in the documented JSON shape, one connection or external entry per line."""
    visible = set(shown)
    keys = [json.dumps(pod.key) for pod in matrix.pods]
    allowed_json: dict[PortSet, str] = {}

    def allowed(ports: PortSet) -> str:
        found = allowed_json.get(ports)
        if found is None:
            found = allowed_json[ports] = json.dumps(ports.to_json())
        return found

    stream.write('{"pods": [' + ", ".join(keys[i] for i in shown) + "],\n")
    connections = [
        f'{{"src": {keys[i]}, "dst": {keys[j]}, "allowed": {allowed(ports)}}}'
        for i, j, ports in matrix.connections()
        if i in visible and j in visible
    ]
    stream.write(' "connections": [' + _json_lines(connections) + "],\n")
    external = []
    for i in shown:
        for ranges, ports in matrix.egress_external[i]:
            external.append(
                f'{{"src": {keys[i]}, "dst_ip_ranges": {_ranges_json(ranges)}, '
                f'"allowed": {allowed(ports)}}}'
            )
        for ranges, ports in matrix.ingress_external[i]:
            external.append(
                f'{{"src_ip_ranges": {_ranges_json(ranges)}, "dst": {keys[i]}, '
                f'"allowed": {allowed(ports)}}}'
            )
    stream.write(' "external": [' + _json_lines(external) + "]}\n")


def _json_lines(entries: Sequence[str]) -> str:
    return "\n  " + ",\n  ".join(entries) + "\n " if entries else ""


@functools.lru_cache(maxsize=4096)
def _ranges_json(ranges: Intervals) -> str:
    return json.dumps([[format_ipv4(first), format_ipv4(last)] for first, last in ranges])


def cidrs(ranges: Intervals) -> list[str]:
    """Ranges of IPv4 integers as the fewest CIDRs."""
    networks: list[str] = []
    for first, last in ranges:
        networks.extend(
            str(network)
            for network in ipaddress.summarize_address_range(
                ipaddress.IPv4Address(first), ipaddress.IPv4Address(last)
            )
        )
    return networks


def _external_text(external: External) -> list[str]:
    lines = []
    for ranges, allowed in external:
        networks = cidrs(ranges)
        shown = ", ".join(networks[:_SHOWN_RANGES])
        if len(networks) > _SHOWN_RANGES:
            shown += f" (+{len(networks) - _SHOWN_RANGES} more)"
        lines.append(f"{shown}: {allowed.describe()}")
    return lines or ["nothing"]


def alike_notes(alike: Sequence[Sequence[str]]) -> list[str]:
    """One sentence per set of namespaces that behave alike, naming the one shown."""
    notes = []
    for namespaces in alike:
        names = [shown_text(name) for name in namespaces]
        others = ", ".join(names[1 : 1 + _SHOWN_NAMESPACES])
        if len(names) - 1 > _SHOWN_NAMESPACES:
            others += f" and {len(names) - 1 - _SHOWN_NAMESPACES} more"
        notes.append(
            f"{names[0]} stands for {len(names)} namespaces that behave alike ({others}): "
            f"each has the same pods with the same answers within itself and towards the "
            f"rest; they are denied to each other."
        )
    return notes


def format_grouping(
    grouping: Grouping,
    names: Sequence[Sequence[str]],
    *,
    markdown: bool,
    alike: Sequence[Sequence[str]] = (),
) -> str:
    """The grouped matrix as aligned text or as Markdown tables."""
    labels = [f"g{number + 1}" for number in range(len(grouping.groups))]
    pods = sum(len(members) for members in names)
    out: list[str] = []
    heading = "## " if markdown else ""
    shown = f"{pods} pods in {len(labels)} groups"
    if alike:
        total = pods + sum(_hidden_pods(names, alike))
        shown = (
            f"{total} pods, {pods} of them shown (one namespace of each alike set) "
            f"in {len(labels)} groups"
        )
    out.append(f"{shown}; the pods of a group behave identically.\n")
    if alike:
        out.append(f"{heading}Namespaces that behave alike\n")
        out.extend(f"- {markdown_text(note) if markdown else note}" for note in alike_notes(alike))
        out.append("")
    out.append(f"{heading}Groups\n")
    out.extend(
        _table(
            ["group", "pods"],
            [[label, ", ".join(members)] for label, members in zip(labels, names, strict=True)],
            markdown=markdown,
        )
    )
    out.append(
        f"\n{heading}Allowed connections\n"
        + ("" if markdown else "(a group to itself: between two of its pods; not listed: denied)\n")
    )
    if markdown:
        out.append(
            "A group to itself means between two of its pods; pairs not listed are denied.\n"
        )
    rows = [
        [labels[a], labels[b], allowed.describe()]
        for (a, b), allowed in sorted(grouping.between.items())
    ]
    out.extend(_table(["from", "to", "allowed"], rows, markdown=markdown) if rows else ["none"])
    out.append(f"\n{heading}External IPv4 addresses\n")
    external_rows = []
    for number, label in enumerate(labels):
        for line in _external_text(grouping.egress_external[number]):
            external_rows.append([label, "egress to", line])
        for line in _external_text(grouping.ingress_external[number]):
            external_rows.append([label, "ingress from", line])
    out.extend(
        _table(["group", "direction", "addresses: allowed"], external_rows, markdown=markdown)
    )
    return "\n".join(out) + "\n"


def _hidden_pods(names: Sequence[Sequence[str]], alike: Sequence[Sequence[str]]) -> Iterator[int]:
    """For each set of alike namespaces, the pods of the namespaces not shown."""
    for namespaces in alike:
        shown = sum(
            1 for members in names for key in members if key.startswith(f"{namespaces[0]}/")
        )
        yield shown * (len(namespaces) - 1)


def _table(header: list[str], rows: list[list[str]], *, markdown: bool) -> list[str]:
    if markdown:
        escaped = [[markdown_text(cell) for cell in row] for row in rows]
        return [
            "| " + " | ".join(header) + " |",
            "| " + " | ".join("---" for _ in header) + " |",
            *("| " + " | ".join(row) + " |" for row in escaped),
        ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return [
        "  ".join(cell.ljust(widths[column]) for column, cell in enumerate(row)).rstrip()
        for row in [[cell.upper() for cell in header], *rows]
    ]
