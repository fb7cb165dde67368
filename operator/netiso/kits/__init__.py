"""The development kit: what developers, tests, benchmarks and the demo use, never the operator.

localcluster/ builds and runs a real control plane; processes runs netiso the way users do;
demo is `netiso demo`. The operator's own packages never import this one (.importlinter), and
the container image leaves it out.
"""
