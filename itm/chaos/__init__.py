"""``itm chaos``: a fault-injection round for operators who test their ITM deployment.

A workload whose notifications are known exactly (``workload.py``: scores only rise
and never reach 100 %, so each qualifying (employee, opportunity) pair must be pushed
exactly once) runs against the stack through its gRPC APIs while faults are injected
on a schedule (``faults.py``: kill, pause and restart each service, pause the broker,
restart Redis, poison records, a frozen matcher worker). The round then reads every
inbox and every employee back and prints lost / duplicated / unexpected pushes and
acknowledged-but-missing writes (``report.py``); any of them makes it exit non-zero.

Faults go through a backend (``backends.py``: ``kill``, ``start``, ``pause``,
``resume``, ``restart`` a named service): local processes (the embedded stack, started
by the round itself) or docker compose (``docker compose kill/start/pause/unpause/
restart``). See docs/chaos.md.
"""
