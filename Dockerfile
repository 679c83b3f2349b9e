# One image for all five ITM services; the command picks the service:
#   docker run itm:local python -m services.profile      (opportunity, learning, matcher, notifier)
# The image also carries the `itm` CLI.
#
# Two ways to build, one file (no `# syntax=` line: the legacy builder and a
# BuildKit that pulls nothing both take it):
#   docker build -t itm:local .                          FROM python:3.11-slim, deps from the index
#   make images                                          offline: BASE_IMAGE=itm-base:bookworm (debootstrap,
#                                                        docker import) and WHEELHOUSE=.itm/images/wheels
#                                                        (pip wheel on the host), installed with --no-index

ARG BASE_IMAGE=python:3.11-slim

# ---- deps: the pinned dependencies in a self-contained venv (cached apart from the sources)
FROM ${BASE_IMAGE} AS deps
# a directory of wheels in the build context; an empty one (the default) means "use the index"
ARG WHEELHOUSE=docker/no-wheels
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY ${WHEELHOUSE} /wheels
# a compiler only for the rare dependency without a wheel, and only when online; it stays in this stage
RUN if ls /wheels/*.whl >/dev/null 2>&1; then echo "offline: wheels from the wheelhouse"; else \
      apt-get update \
      && apt-get install -y --no-install-recommends build-essential \
      && rm -rf /var/lib/apt/lists/*; \
    fi
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# offline: the whole wheelhouse at once (a layer that changes only with the runtime dependencies)
RUN if ls /wheels/*.whl >/dev/null 2>&1; then pip install --no-index --no-deps /wheels/*.whl; fi
WORKDIR /src
# dependencies first (their layer survives source edits): install the pinned deps
# from pyproject with empty packages, then the real sources on top
COPY pyproject.toml ./
RUN if ls /wheels/*.whl >/dev/null 2>&1; then export PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels; fi \
 && mkdir -p itm services \
 && touch itm/__init__.py services/__init__.py \
 && pip install . \
 && pip uninstall -y itm \
 && rm -rf build itm services itm.egg-info

# ---- build: the project's sources on top ------------------------------------
FROM deps AS build
COPY itm ./itm
COPY services ./services
RUN if ls /wheels/*.whl >/dev/null 2>&1; then export PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels; fi \
 && pip install --no-deps . \
 && python -m compileall -q /opt/venv/lib/python3.11/site-packages

# ---- runtime: slim, non-root, read-only-root friendly ----------------------
FROM ${BASE_IMAGE} AS runtime
ARG ITM_UID=10001
LABEL org.opencontainers.image.title="itm" \
      org.opencontainers.image.description="ITM event-driven internal talent marketplace (profile, opportunity, learning, matcher, notifier)" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid ${ITM_UID} itm \
 && useradd --system --uid ${ITM_UID} --gid ${ITM_UID} --home-dir /var/lib/itm --no-create-home --shell /usr/sbin/nologin itm \
 && mkdir -p /var/lib/itm \
 && chown ${ITM_UID}:${ITM_UID} /var/lib/itm
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/itm \
    TMPDIR=/tmp \
    ITM_DATA_DIR=/var/lib/itm \
    ITM_GRPC_HOST=0.0.0.0 \
    ITM_GRPC_PORT=50051 \
    ITM_HTTP_HOST=0.0.0.0 \
    ITM_HTTP_PORT=8080 \
    ITM_LOG_FORMAT=json
WORKDIR /var/lib/itm
# /var/lib/itm is the one writable path (a volume / emptyDir); the root fs may be read-only
VOLUME ["/var/lib/itm"]
EXPOSE 50051 8080
USER 10001:10001
# no default service on purpose: the command names it
CMD ["itm", "--help"]
