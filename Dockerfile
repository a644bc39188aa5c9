# artifactd container image: a static-enough release binary on Debian slim.
#   docker build -t artifactd .
#   docker run -p 8080:8080 -v artifactd-data:/data artifactd
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p artifactd -p rpcli

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /data --create-home artifactd
COPY --from=build /src/target/release/artifactd /src/target/release/rpcli /usr/local/bin/
USER artifactd
WORKDIR /data
ENV ARTIFACTD_LISTEN=0.0.0.0:8080 \
    ARTIFACTD_DATA_DIR=/data
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s CMD ["rpcli", "--retries", "0", "health"]
ENTRYPOINT ["artifactd"]
CMD ["serve"]
