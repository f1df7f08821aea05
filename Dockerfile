# One image for every HyperQuest process: web (`serve`), `worker`, `migrate` and the CLI tools.
FROM python:3.11-slim
WORKDIR /srv/hyperquest
# torch first and pinned, so nothing later swaps the build. The default wheel for Linux runs on
# CPUs and on NVIDIA GPUs; pass another spec (e.g. a CPU-only build from your own index via
# PIP_INDEX_URL) for a smaller CPU-only image.
ARG TORCH_SPEC=torch==2.13.0
ARG PIP_INDEX_URL
RUN pip install --no-cache-dir "${TORCH_SPEC}"
COPY pyproject.toml README.md ./
COPY app ./app
COPY engine ./engine
COPY worker ./worker
COPY templates ./templates
COPY static ./static
COPY migrations ./migrations
RUN pip install --no-cache-dir ".[monitoring]" \
    && useradd --create-home --uid 1000 hyperquest
USER hyperquest
EXPOSE 8000
ENTRYPOINT ["hyperquest"]
CMD ["--help"]
