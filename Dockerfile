# Gatehouse in a container: the same binary runs everything (default) or a data-plane node
# (GATEHOUSE_ROLE=data_plane plus the GATEHOUSE_CLUSTER_* settings from the console's command).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/gatehouse

FROM debian:bookworm-slim
RUN useradd --system --home-dir /data --shell /usr/sbin/nologin gatehouse \
 && mkdir -p /data && chown gatehouse /data && chmod 700 /data
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
USER gatehouse
ENV GATEHOUSE_DATA_DIR=/data \
    GATEHOUSE_PROXY_LISTEN=0.0.0.0:8000 \
    GATEHOUSE_PROXY_TLS_LISTEN=0.0.0.0:8443 \
    GATEHOUSE_ADMIN_LISTEN=0.0.0.0:8001 \
    GATEHOUSE_CONSOLE_LISTEN=0.0.0.0:8002 \
    GATEHOUSE_CLUSTER_LISTEN=0.0.0.0:8005
VOLUME /data
EXPOSE 8000 8443 8001 8002 8005
ENTRYPOINT ["gatehouse"]
