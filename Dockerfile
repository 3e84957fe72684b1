# Concord app image: `concord db upgrade`, then `concord serve` on port 8000.
FROM python:3.11-slim

# glibc keeps freed image-decode buffers per thread arena; two arenas keep resident memory near what is in use
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 MALLOC_ARENA_MAX=2 \
    CONCORD_DATA_DIR=/data
WORKDIR /srv/concord

COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
RUN pip install --no-compile . \
    && useradd --system --uid 10001 --home-dir /data concord \
    && mkdir -p /data && chown concord /data

USER concord
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["sh", "-c", "concord db upgrade && exec concord serve --host 0.0.0.0 --port 8000 --proxy-headers"]
