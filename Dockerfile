# One image for every HyperQuest process: web (`serve`), `worker`, `migrate` and the CLI tools.
FROM python:3.11-slim
WORKDIR /srv/hyperquest
# torch first and pinned, so nothing later swaps the build. The default wheel for Linux runs on
# CPUs and on NVIDIA GPUs; pass another spec (e.g. a CPU-only build from your own index via
# PIP_INDEX_URL) for a smaller CPU-only image.
ARG TORCH_SPEC=torch==2.13.0
ARG PIP_INDEX_URL
RUN pip install --no-cache-dir "${TORCH_SPEC}"
# The project goes in as a wheel (templates, static files and migrations are package data) and its
# sources are removed again: the image runs the installed copy only, the same install that
# tests/test_shipped_install.py builds from these folders and plays a game on.
COPY pyproject.toml README.md /tmp/hyperquest/
COPY app /tmp/hyperquest/app
COPY engine /tmp/hyperquest/engine
COPY worker /tmp/hyperquest/worker
COPY templates /tmp/hyperquest/templates
COPY static /tmp/hyperquest/static
COPY migrations /tmp/hyperquest/migrations
COPY docs /tmp/hyperquest/docs
RUN pip install --no-cache-dir "/tmp/hyperquest[monitoring]" \
    && rm -rf /tmp/hyperquest \
    && useradd --create-home --uid 1000 hyperquest
USER hyperquest
EXPOSE 8000
ENTRYPOINT ["hyperquest"]
CMD ["--help"]
