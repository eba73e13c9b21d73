"""The whole registry and every stored result: ``hullscan fleet scan`` (one job per digest
of every repository and tag), ``fleet report`` (a summary over stored results) and
``fleet rematch`` (match stored inventories against a new database, no re-scan).

- ``store``: the result store (SQLite or PostgreSQL, through SQLAlchemy).
- ``verdict``: the facts of a report admission and summaries use.
- ``catalog``: repositories, tags and digests of a registry, de-duplicated.
- ``queue``: where scan jobs go (the embedded queue runs them in this process).
- ``plan``: a resumable fleet scan.
- ``report``, ``rematch``: the summary and the re-match.
"""
