# syntax=docker/dockerfile:1
# The microdash binary in a small runtime image. Build: `docker build -t microdash .`
# One image runs every role: `serve` (default), `api`, `worker`, `scheduler`, `migrate`, ...

# ---- build: the pinned toolchain (rust-toolchain.toml says 1.95) and the locked dependencies
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p microdash \
    && cp target/release/microdash /usr/local/bin/microdash

# ---- runtime: Debian slim, a non-root user, curl for the health checks
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/microdash --create-home microdash
COPY --from=build /usr/local/bin/microdash /usr/local/bin/microdash
USER microdash
WORKDIR /var/lib/microdash
# Listen on every interface inside the container; keep the embedded database in the volume.
ENV MICRODASH_HTTP_ADDR=0.0.0.0:8080 \
    MICRODASH_DATA_DIR=/var/lib/microdash \
    MICRODASH_LOG_FORMAT=json
VOLUME ["/var/lib/microdash"]
EXPOSE 8080
ENTRYPOINT ["microdash"]
CMD ["serve"]
