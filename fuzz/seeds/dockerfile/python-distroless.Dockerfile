FROM python:3.12-slim-bookworm AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /app
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libpq-dev \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install --no-cache-dir --target /app/deps -r requirements.txt
RUN --mount=type=secret,id=pip_token \
    PIP_TOKEN="$(cat /run/secrets/pip_token)" pip install --no-cache-dir --target /app/deps private-pkg==1.4.2
COPY src/ /app/src/

FROM gcr.io/distroless/python3-debian12:nonroot
WORKDIR /app
COPY --from=build --chown=65532:65532 /app /app
ENV PYTHONPATH=/app/deps
USER 65532
HEALTHCHECK NONE
CMD ["/app/src/main.py"]
