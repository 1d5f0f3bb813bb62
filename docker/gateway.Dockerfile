# The public API gateway: a small image with one static-ish binary, run by tini as a non-root user.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# Plain RUN (no cache mounts): builds with the classic builder and with BuildKit alike.
RUN cargo build --release --locked -p api-gateway \
 && cp target/release/api-gateway /usr/local/bin/api-gateway

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 memharbor \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --create-home memharbor \
 && mkdir -p /app/logs && chown memharbor /app/logs
COPY --from=build /usr/local/bin/api-gateway /usr/local/bin/api-gateway
WORKDIR /app
USER 10001:10001
ENV MEMHARBOR_HTTP_ADDR=0.0.0.0:8001 \
    MEMHARBOR_LOG_DIR=/app/logs \
    RECORDER_URL=http://recorder:3100
EXPOSE 8001
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD ["curl", "-fsS", "--max-time", "2", "http://127.0.0.1:8001/api/health"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["api-gateway"]
