"""One module per scenario; each exposes `async def run(session) -> dict` of report fields.

Order and dependencies live in bench.suite: raw runs before the operator starts, bootstrap
brings N namespaces in sync for the scenarios after it.
"""
