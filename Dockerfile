# syntax=docker/dockerfile:1
#
# Build:  docker build -t mailer .
# Web:    docker run -p 8080:8080 -v mailer-data:/data mailer            (runs `mailer serve`)
# Worker: docker run -v mailer-data:/data --no-healthcheck \
#           --entrypoint /usr/local/bin/worker mailer
#         (same image; --entrypoint also clears the default CMD, and the worker
#          serves no /healthz, so disable the image's HTTP healthcheck for it)

ARG GO_VERSION=1.26

# ---------------------------------------------------------------- build stage
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src

# Dependencies first, so this layer is cached until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

# Generated *_templ.go files are committed (CI checks they are current), so no
# templ generate step is needed here.
COPY . .

ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
      go build -trimpath -ldflags="-s -w" -o /out/mailer ./app/cmd/mailer && \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
      go build -trimpath -ldflags="-s -w" -o /out/worker ./app/cmd/worker && \
    mkdir -p -m 0700 /out/data

# ---------------------------------------------------------------- final stage
# Static binaries (pure-Go SQLite), no shell, runs as uid/gid 65532 (nonroot).
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /out/mailer /out/worker /usr/local/bin/
# Distroless has no shell to chown at run time: ship /data owned by nonroot so
# a fresh named volume inherits that ownership.
COPY --from=build --chown=65532:65532 /out/data /data

ENV DATA_DIR=/data \
    ADDR=:8080
VOLUME /data
EXPOSE 8080
USER nonroot:nonroot

# No curl in distroless: `mailer healthcheck` GETs http://127.0.0.1$ADDR/healthz
# and exits 0 (healthy) or 1 (unhealthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/mailer", "healthcheck"]

# The worker uses the same image: docker run --entrypoint /usr/local/bin/worker ...
ENTRYPOINT ["/usr/local/bin/mailer"]
CMD ["serve"]
