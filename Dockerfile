# ecobrief: build with the Rust toolchain, run on a small Debian image as a non-root user.
#   docker build -t ecobrief .
#   docker run -d --name ecobrief -e ECOBRIEF_BOT_TOKEN=… -v ecobrief-data:/app/data -p 127.0.0.1:8080:8080 ecobrief

FROM rust:1-bookworm AS build
WORKDIR /src
# The manifest names the benchmarks, so cargo wants their files even for a binary build.
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY templates templates
COPY benches benches
RUN cargo build --release --locked --bin ecobrief \
    && strip target/release/ecobrief

FROM debian:bookworm-slim
# TLS is rustls with its own roots; ca-certificates is for a Bot API server or feeds behind
# a private CA configured on the host.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin ecobrief
WORKDIR /app
COPY --from=build /src/target/release/ecobrief /usr/local/bin/ecobrief
COPY config config
COPY templates templates
COPY samples samples
RUN mkdir -p /app/data && chown ecobrief:ecobrief /app/data
USER ecobrief
# The SQLite database (and its lock file) live here: keep it on a volume.
VOLUME ["/app/data"]
# Inside a container the server must listen on all interfaces; publish the port only
# to the host's loopback (or a reverse proxy) as in the example above.
ENV ECOBRIEF__SERVER__LISTEN=0.0.0.0:8080
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ecobrief"]
CMD ["run"]
