# sessiond: a static binary (CGO_ENABLED=0) on distroless/static, as non-root.
#
# A single node needs a volume and nothing else (the generated seal key is
# kept in /data/seal.key; the admin password comes from a secret):
#
#   docker run -d -p 8080:8080 -v sessiond-data:/data \
#     -e SESSIOND_ADMIN_PASSWORD_FILE=/run/secrets/admin-password sessiond
#
# A cluster member: Raft listens on all interfaces, which needs the
# cluster key (or mutual TLS):
#
#   docker build -t sessiond --build-arg VERSION=$(git describe --tags --always) .
#   docker run -d -p 8080:8080 -p 8300:8300 -p 127.0.0.1:9090:9090 -v sessiond-data:/data \
#     -e SESSIOND_NODE_ID=node1 -e SESSIOND_RAFT_ADDR=0.0.0.0:8300 \
#     -e SESSIOND_RAFT_ADVERTISE=10.0.0.5:8300 \
#     -e SESSIOND_API_URL=http://10.0.0.5:8080 \
#     -e SESSIOND_CLUSTER_KEY_FILE=/run/secrets/cluster-key sessiond
#
# Raft cannot advertise 0.0.0.0: set SESSIOND_RAFT_ADVERTISE (and
# SESSIOND_API_URL) to the address peers reach this container on.
# Base images are fully qualified, for builders that refuse short names.
# CI has no registry access to pull them: TestContainer_SingleNode
# (cmd/sessiond/e2e/container_test.go) builds this file's final stage onto
# scratch from a locally built binary and runs it with podman.

ARG GO_VERSION=1.26
FROM docker.io/library/golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.buildTime=${DATE}" \
      -o /out/sessiond ./cmd/sessiond && \
    mkdir -p /out/data

# distroless/static: no shell, no libc, CA certificates and tzdata only;
# the nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sessiond /usr/local/bin/sessiond
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# Metrics (counts of sessions and users) have their own port: publish
# 9090 only to Prometheus's network, never with the API. Raft stays on
# the container's loopback until a cluster member sets SESSIOND_RAFT_ADDR
# (with a cluster key): a single node needs no Raft port.
ENV SESSIOND_DATA_DIR=/data \
    SESSIOND_API_ADDR=0.0.0.0:8080 \
    SESSIOND_RAFT_ADDR=127.0.0.1:8300 \
    SESSIOND_METRICS_ADDR=0.0.0.0:9090
EXPOSE 8080 8300
EXPOSE 9090
VOLUME ["/data"]
# The image has no shell or curl: the binary probes itself (GET /healthz;
# `sessiond healthcheck --ready` asks /readyz). Orchestrators with their
# own probes can use those URLs directly. podman keeps HEALTHCHECK only
# when building with --format docker.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/sessiond", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/sessiond"]
CMD ["serve"]
