# The worker image: this checkout installed (not editable) into python:3.11-slim, run as an
# unprivileged user. `docker compose up` builds it; on its own:
#   docker build -t streamq-worker . && docker run --rm -e STREAMQ_JOB_QUEUE_URL=redis://... streamq-worker
# Arguments after the image name replace the default command (the observer action worker), e.g.
#   docker run ... streamq-worker worker --group emails --app myapp.jobs:tasks
# (add your own package to an image built FROM this one for --app).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY . /src
RUN pip install /src && rm -rf /src \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin streamq

USER streamq
WORKDIR /tmp
EXPOSE 9090

# Healthy while /metrics answers (it is served by the worker's own process).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/metrics', timeout=2)"]

# SIGTERM (docker stop): stop reading, let running jobs finish within the grace, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["streamq"]
CMD ["worker", "--group", "observers", "--log-format", "json", "--metrics-port", "9090"]
