"""Scan jobs: the result store (``store``), the queues that carry jobs to workers
(``queue``: embedded or Celery) and what a worker does with one (``runner``)."""
