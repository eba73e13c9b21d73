"""The whole registry and every stored result: ``hullscan fleet scan`` (one job per digest
of every repository and tag), ``fleet report`` (a summary over stored results) and
``fleet rematch`` (match stored inventories against a new database, no re-scan).

Results live in the server's store (``hullscan.jobs.store``) and jobs go through its
queue (``hullscan.jobs.queue``): one store and one queue for the server, Harbor,
admission and the fleet.

- ``catalog``: repositories, tags and digests of a registry, de-duplicated.
- ``jobs``: one request per digest on the store and queue, and waiting for them.
- ``plan``: a resumable fleet scan.
- ``report``, ``rematch``: the summary and the re-match.
"""
