"""kling-gateway benchmarks: ``python -m bench`` runs them all and writes ``docs/benchmarks.md``.

Every number is reported against a baseline measured in the same run (a bare Starlette app on the
same uvicorn settings, real time for the engine, the warm-up RSS for memory), as a ratio. Servers
are started and stopped by the bench itself on loopback, in temporary data directories.
"""
