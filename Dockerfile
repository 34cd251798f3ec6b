# Lintel's container image, the one charts/lintel runs by default (docs/deploy.md).
#
#   docker build -t lintel:dev .
#
# Stage 1 builds on Debian 12 with the packages scripts/setup.sh installs (the same ones
# `make build` uses); stage 2 is Debian 12 slim with only the shared libraries the binary
# loads, running as the non-root uid/gid 65532.

FROM debian:12 AS build
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN scripts/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build --target lintel -j "$(nproc)" \
 && strip /build/lintel \
 && /build/lintel version \
 && install -D -m 0755 /build/lintel /out/usr/local/bin/lintel

FROM debian:12-slim
# The runtime libraries of `ldd lintel` (tests/integration/test_chart.py checks this list
# against ldd and dpkg -S): OpenSSL 3, yaml-cpp 0.7, spdlog 1.10, fmt 9, the C++ runtime.
# No ca-certificates: Lintel trusts only the service account's ca.crt.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libssl3 libyaml-cpp0.7 libspdlog1.10 libfmt9 libstdc++6 libgcc-s1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/usr/local/bin/lintel /usr/local/bin/lintel
# Numeric, so that the kubelet can verify runAsNonRoot.
USER 65532:65532
# http, https, admin (/healthz, /readyz, /routes)
EXPOSE 8080 8443 9000
ENTRYPOINT ["lintel"]
CMD ["serve", "--kube"]
