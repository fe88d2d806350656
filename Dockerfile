# The daskrun runtime image: launcher, scheduler and workers all run it, so every
# process of a run has the same Python, dask and distributed.
# BASE_IMAGE must provide python3 (3.11+) with the venv module on a Debian/Ubuntu
# userland; where no registry is reachable, build one locally (make image does).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/daskrun && /opt/daskrun/bin/pip install uv==0.13.9
COPY pyproject.toml README.md /src/
COPY runtime /src/runtime
COPY chart /src/chart
RUN cd /src && /opt/daskrun/bin/pip wheel --no-deps -w /dist . \
 && /opt/daskrun/bin/uv pip install --python /opt/daskrun/bin/python --compile-bytecode "$(ls /dist/daskrun-*.whl)[parquet]"

FROM ${BASE_IMAGE}
# git (+ openssh-client for deploy keys): setup.git_repository; tini: PID 1 that forwards
# SIGTERM so the run can delete its cluster.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client tini ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && groupadd --gid 10001 daskrun \
 && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/daskrun daskrun
# Owned by the run's user so worker setup can pip-install into the same environment.
COPY --from=build --chown=10001:10001 /opt/daskrun /opt/daskrun
ENV PATH=/opt/daskrun/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/daskrun
WORKDIR /home/daskrun
USER 10001:10001
ENTRYPOINT ["tini", "-g", "--"]
CMD ["daskrun", "--help"]
