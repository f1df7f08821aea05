# One image for every HyperQuest process (CLI, and later web and worker).
FROM python:3.11-slim
WORKDIR /srv/hyperquest
# TORCH_SPEC selects the torch build; pass a CPU or CUDA wheel spec/index via PIP_* build args as needed.
ARG TORCH_SPEC=torch==2.13.0
RUN pip install --no-cache-dir "${TORCH_SPEC}"
COPY pyproject.toml README.md ./
COPY app ./app
COPY engine ./engine
COPY worker ./worker
COPY templates ./templates
COPY static ./static
COPY migrations ./migrations
RUN pip install --no-cache-dir .
ENTRYPOINT ["hyperquest"]
CMD ["--help"]
