"""The development kit: what developers, tests, benchmarks and the demo use, never the operator.

A distribution of its own (devkit/pyproject.toml), so neither the operator's wheel nor its
image carries it. localcluster/ builds and runs a real control plane; processes and harness run
netiso the way users do, for the tests and the benchmarks; demo is `netiso demo`. The `cluster`
and `demo` subcommands reach `netiso` through the `netiso.cli` entry point group.
"""
