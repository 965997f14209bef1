# The WedSync exporter (and, with another command, the sandbox) as a container image.
#   docker build -t wedsync/exporter:0.1.0 .
FROM python:3.11.9-slim-bookworm

# The example config listens on loopback unless WEDSYNC_LISTEN is set: in a container that
# would be unreachable, and the container network is the private one (compose publishes the
# port on the host's loopback only).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 WEDSYNC_LISTEN=0.0.0.0:9847 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 wedsync \
 && useradd --system --uid 10001 --gid wedsync --home-dir /app --shell /usr/sbin/nologin wedsync

WORKDIR /app
COPY pyproject.toml README.md ./
COPY exporter/ exporter/
COPY harness/ harness/
COPY sandbox/ sandbox/
COPY alerts/ alerts/
COPY dashboards/ dashboards/
COPY loadtests/ loadtests/
RUN pip install . && mkdir -p /etc/wedsync && cp exporter/example.yaml /etc/wedsync/exporter.yaml

USER wedsync
EXPOSE 9847
# Liveness only: the exporter answers /-/healthy whatever its dependencies are doing.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9847/-/healthy', timeout=2)"]
ENTRYPOINT ["wedsync-exporter"]
CMD ["--config", "/etc/wedsync/exporter.yaml"]
