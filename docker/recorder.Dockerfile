# The recorder: Debian's Chromium, FFmpeg's libraries, the pinned Agora Web SDK, run by tini (so
# SIGTERM reaches it and every recording is finished) as a non-root user.

FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config clang libclang-dev \
      libavcodec-dev libavformat-dev libavutil-dev libswresample-dev libavfilter-dev \
      libavdevice-dev libswscale-dev curl openssl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN scripts/fetch-agora-sdk.sh
# Plain RUN (no cache mounts): builds with the classic builder and with BuildKit alike.
RUN cargo build --release --locked -p recorder-svc \
 && cp target/release/recorder-svc /usr/local/bin/recorder-svc

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium ca-certificates curl tini \
      libavcodec59 libavformat59 libavutil57 libswresample4 libavfilter8 libavdevice59 libswscale6 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 memharbor \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --create-home memharbor \
 && mkdir -p /app/recordings /app/vendor && chown memharbor /app/recordings
COPY --from=build /usr/local/bin/recorder-svc /usr/local/bin/recorder-svc
COPY --from=build /src/vendor/ /app/vendor/
WORKDIR /app
USER 10001:10001
ENV RECORDER_HTTP_ADDR=0.0.0.0:3100 \
    RECORDER_RECORDINGS_DIR=/app/recordings \
    RECORDER_AGORA_SDK=/app/vendor/agora-rtc-sdk-ng-4.24.8/AgoraRTC_N-production.js \
    RECORDER_CHROMIUM=/usr/lib/chromium/chromium \
    RECORDER_GATEWAY_URL=http://gateway:8001
VOLUME ["/app/recordings"]
EXPOSE 3100
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "--max-time", "2", "http://127.0.0.1:3100/livez"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["recorder-svc"]
