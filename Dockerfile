# refvid, CPU image: the API server, workers and the compositor engine.
#   docker build -t refvid .
#   docker run -p 8080:8080 -v refvid-data:/data refvid
# The CUDA variant (for the Wan engine on GPUs) is deploy/Dockerfile.cuda.

FROM rust:1-bookworm AS build
WORKDIR /src
# nasm makes OpenH264 several times faster; everything else builds from vendored sources.
RUN apt-get update && apt-get install -y --no-install-recommends nasm && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p refvid && cp target/release/refvid /refvid

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data refvid && mkdir -p /data && chown refvid /data
COPY --from=build /refvid /usr/local/bin/refvid
USER refvid
ENV REFVID_DATA_DIR=/data REFVID_LISTEN=0.0.0.0:8080
EXPOSE 8080
VOLUME /data
ENTRYPOINT ["refvid"]
CMD ["serve"]
