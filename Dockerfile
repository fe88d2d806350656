# Two images of one build: `daskrun` (default target) runs the launcher, the Dask scheduler and
# the driver; `daskrun-worker` (target worker) runs the Dask workers, with only what a worker
# process imports (image/worker-packages.txt) at the same versions, so the image every new node
# pulls once per worker pool is a third of the launcher's.
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
 && /opt/daskrun/bin/uv pip install --python /opt/daskrun/bin/python --compile-bytecode "$(ls /dist/daskrun-*.whl)[parquet]" \
 && /opt/daskrun/bin/uv pip freeze --python /opt/daskrun/bin/python | grep -v '^daskrun ' > /dist/launcher-versions.txt

# The workers' environment, at the same path (a venv's scripts name their interpreter), pinned
# to the launcher's versions. pip stays (setup.pip_packages), setuptools and uv do not; the
# packages' own test suites (a third of pandas) are never imported: 13 MB of 160.
FROM ${BASE_IMAGE} AS worker-build
COPY --from=build /opt/daskrun/bin/uv /usr/local/bin/uv
COPY --from=build /dist /dist
COPY image/worker-packages.txt /dist/
RUN python3 -m venv --without-pip /opt/daskrun \
 && uv pip install --python /opt/daskrun/bin/python --compile-bytecode \
      -c /dist/launcher-versions.txt -r /dist/worker-packages.txt pip \
 && uv pip install --python /opt/daskrun/bin/python --compile-bytecode --no-deps "$(ls /dist/daskrun-*.whl)" \
 && cd /opt/daskrun/lib/python3.*/site-packages \
 && find . -path ./daskrun -prune -o -type d \( -name tests -o -name test \) -prune -exec rm -rf {} +

FROM ${BASE_IMAGE} AS runtime
# git (+ openssh-client for deploy keys): setup.git_repository; tini: PID 1 that forwards
# SIGTERM so the run can delete its cluster.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client tini ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && groupadd --gid 10001 daskrun \
 && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/daskrun daskrun
ENV PATH=/opt/daskrun/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/daskrun
WORKDIR /home/daskrun
USER 10001:10001
ENTRYPOINT ["tini", "-g", "--"]

FROM runtime AS worker
# Owned by the run's user so worker setup can pip-install into the same environment.
COPY --from=worker-build --chown=10001:10001 /opt/daskrun /opt/daskrun
CMD ["dask", "worker", "--help"]

FROM runtime
COPY --from=build --chown=10001:10001 /opt/daskrun /opt/daskrun
CMD ["daskrun", "--help"]
