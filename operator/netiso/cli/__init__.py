"""The `netiso` command: every subcommand and its plumbing (inputs, printing, pictures).

A sibling of the operator over the same pure core; the development kit's commands (`demo`,
`cluster`) plug in through the `netiso.cli.app` entry point group when it is installed.
"""
