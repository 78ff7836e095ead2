# The gateway image: one stateless process per container; PostgreSQL, an OPA sidecar and a KMS
# are configured through GATEWAY_* variables (see README and docs/operations.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 GATEWAY_ENVIRONMENT=prod
WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
COPY gateway ./gateway
COPY emulator ./emulator
COPY migrations ./migrations
COPY policies ./policies
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --uid 10001 gateway \
    && mkdir -p /app/var && chown gateway /app/var

USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz').status == 200 else 1)"]
# Migrations run as a separate step per deploy: `docker run IMAGE gmail-gateway migrate`.
CMD ["gmail-gateway", "serve", "--host", "0.0.0.0", "--port", "8000"]
