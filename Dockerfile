# syntax=docker/dockerfile:1
#
# scalekeeper's container image: one static (musl) binary on distroless/static, run as the
# distroless "nonroot" user (65532). It writes nothing, so it runs with a read-only root
# filesystem; the chart mounts the certificates.
#
#   make image                                    # the host's architecture, tagged :dev
#   make image-archive                            # the same image without Docker (below)
#   docker buildx build --platform linux/amd64,linux/arm64 -t IMAGE .    # what release.yml pushes
#   docker buildx build --platform linux/amd64,linux/arm64 --target binary \
#     --output type=local,dest=dist .             # dist/linux_{amd64,arm64}/scalekeeper
#
# Cross-compilation. The builder stage runs on the build host's own platform
# ($BUILDPLATFORM), never under QEMU, and compiles for $TARGETARCH with cargo-zigbuild: zig
# is the C compiler for ring's C and assembly and the linker for the musl targets, for
# amd64 and arm64 alike, so both come out of one code path. (Compiling under QEMU
# emulation is several times slower than this cross build, 6-7 minutes per architecture on
# 2 cores; Debian has no aarch64 musl cross-gcc, and musl-tools' musl-gcc only targets the
# host.)
#
# Base images are pinned by tag. To pin by digest as well (let Dependabot's docker updates
# keep it fresh), take the multi-platform index digest that
#   docker buildx imagetools inspect rust:1.95.0-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
# print on their "Digest:" line and append it: FROM rust:1.95.0-bookworm@sha256:<digest>.
# The Rust version must equal rust-toolchain.toml's channel: `make hadolint` checks it.

FROM --platform=$BUILDPLATFORM rust:1.95.0-bookworm AS builder

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# cargo-zigbuild and zig from PyPI, every wheel checked against its sha256.
COPY tools/cross-requirements.txt /tmp/cross-requirements.txt
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/cross \
 && /opt/cross/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes \
      -r /tmp/cross-requirements.txt \
 && rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl
# cargo-zigbuild runs `python3 -m ziglang`: the venv's python3 must come first.
ENV PATH=/opt/cross/bin:$PATH \
    CARGO_TERM_COLOR=always

WORKDIR /src
# What the build reads: the workspace and the proto files (scalekeeper-api's build.rs).
# Without the `dev` cargo feature there is no `scalekeeper dev`, so no kubesim in the binary
# and no sample objects (examples/) to copy. rust-toolchain.toml stays out: the image's
# toolchain is the pinned one (checked by `make hadolint`).
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY proto proto

ARG TARGETARCH
# The commit `scalekeeper version` reports (release.yml passes the tag's); empty: none.
ARG SCALEKEEPER_GIT_COMMIT=""
# The registry is shared between the two architectures' builds (cargo locks it itself); the
# target directory is one per architecture, so both can compile at once.
RUN --mount=type=cache,id=scalekeeper-cargo-registry,target=/usr/local/cargo/registry,sharing=shared \
    --mount=type=cache,id=scalekeeper-cargo-git,target=/usr/local/cargo/git,sharing=shared \
    --mount=type=cache,id=scalekeeper-zig-cache,target=/root/.cache,sharing=shared \
    --mount=type=cache,id=scalekeeper-target-${TARGETARCH},target=/src/target,sharing=locked \
    case "${TARGETARCH}" in \
      amd64) target=x86_64-unknown-linux-musl ;; \
      arm64) target=aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH '${TARGETARCH}': amd64 or arm64" >&2; exit 1 ;; \
    esac \
 && SCALEKEEPER_GIT_COMMIT="${SCALEKEEPER_GIT_COMMIT}" \
    cargo zigbuild --release --locked --target "${target}" -p scalekeeper --bin scalekeeper \
 && install -D -m 0755 "target/${target}/release/scalekeeper" /out/scalekeeper \
 && if readelf --program-headers --dynamic /out/scalekeeper | grep -E 'INTERP|\(NEEDED\)'; then \
      echo "/out/scalekeeper is not a static binary" >&2; exit 1; \
    fi

# `--target binary --output type=local,dest=DIR` exports just the binary (release.yml).
FROM scratch AS binary
COPY --from=builder /out/scalekeeper /scalekeeper

# The image. distroless/static: CA certificates, tzdata, /etc/passwd with nonroot; no shell.
# `make image-archive` builds this stage without Docker: tools/image_archive.py reads its
# ARG, LABEL, COPY, USER, EXPOSE, ENTRYPOINT and CMD and refuses anything else (RUN, ENV, a
# second COPY, another base). Change the tool with this stage; `make test` checks both.
FROM gcr.io/distroless/static-debian12:nonroot AS runtime

ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="scalekeeper" \
      org.opencontainers.image.description="A secure gRPC API (mTLS) over the replica counts of Kubernetes Deployments, with drift correction." \
      org.opencontainers.image.source="https://github.com/scalekeeper/scalekeeper" \
      org.opencontainers.image.url="https://github.com/scalekeeper/scalekeeper" \
      org.opencontainers.image.documentation="https://github.com/scalekeeper/scalekeeper/blob/main/README.md" \
      org.opencontainers.image.vendor="scalekeeper" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"

COPY --from=builder /out/scalekeeper /usr/local/bin/scalekeeper

USER 65532:65532
# 50051: the gRPC API (mTLS). 8080: plaintext /healthz, /readyz, /metrics.
EXPOSE 50051 8080
ENTRYPOINT ["/usr/local/bin/scalekeeper"]
CMD ["serve"]
