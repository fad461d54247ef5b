# syntax=docker/dockerfile:1
# The csms image: the central system (`csms`, the default entrypoint) and the charger simulator
# (`csms-sim`, same package), installed at build time into a virtualenv that the runtime stage
# copies. Build: `docker build -t csms .`; run: `docker run csms serve` (with CSMS_DATABASE_URL,
# or without it an embedded PostgreSQL in CSMS_DATA_DIR). docker-compose.yml uses it for every
# csms-side service.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/csms
WORKDIR /src
# Only what `pip install .` reads (pyproject's readme, packages and package-dir), so that a change
# to the tests or docs does not rebuild the image.
COPY pyproject.toml README.md ./
COPY csms ./csms
COPY schemas ./schemas
COPY simulators ./simulators
RUN /opt/csms/bin/pip install . \
    && /opt/csms/bin/csms --help >/dev/null \
    && /opt/csms/bin/csms-sim --help >/dev/null

FROM ${PYTHON_IMAGE}
# A fixed, unprivileged uid: files on the shared volume (CSMS_DATA_DIR) keep one owner whichever
# container wrote them. The embedded PostgreSQL (no CSMS_DATABASE_URL) refuses to run as root too.
RUN groupadd --system --gid 10001 csms \
    && useradd --system --uid 10001 --gid csms --home-dir /var/lib/csms --no-create-home \
       --shell /usr/sbin/nologin csms \
    && install -d -o csms -g csms -m 0750 /var/lib/csms
COPY --from=build /opt/csms /opt/csms
ENV PATH=/opt/csms/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CSMS_HOST=0.0.0.0 \
    CSMS_DATA_DIR=/var/lib/csms
USER csms
WORKDIR /var/lib/csms
# HTTP API and web pages; OCPP WebSocket (ws://HOST:9000/ocpp/{chargePointId}).
EXPOSE 8080 9000
ENTRYPOINT ["csms"]
CMD ["serve"]
