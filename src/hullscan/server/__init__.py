"""``hullscan server``: Harbor's Pluggable Scanner API v1.2, hullscan's own REST API,
health, readiness and Prometheus metrics, on FastAPI. Scans run on the job queue
(``hullscan.jobs``)."""
