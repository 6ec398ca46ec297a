# llm-relay: one compiled executable on a distroless base.
#
#   docker build -t llm-relay .
#   docker run -p 3000:3000 -v llm-relay-data:/data --env-file .env llm-relay
#
# Checked by .ci/check-dockerfile.sh and test/container.test.ts (no Docker engine runs in CI).

# ---- build: compile src/ into one self-contained executable ----
# Pinned by tag to the Bun the project pins (package.json "packageManager"). Pin by digest too
# (oven/bun:1.4.5@sha256:…) once you can resolve it with `docker buildx imagetools inspect`.
FROM oven/bun:1.4.5 AS build
WORKDIR /src
# Dependencies first, so a change in src/ reuses the cached install layer.
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile --production
COPY src ./src
# `bun run build` makes dist/llm-relay (bytecode, Swagger UI assets and migrations inside);
# --version proves the executable starts before it is shipped.
RUN bun run build \
  && ./dist/llm-relay --version \
  && mkdir -p /out/data

# ---- runtime: the executable and nothing else ----
# distroless/base: glibc (the only library the executable links: libc, libm, libdl, libpthread),
# CA certificates and tzdata; no shell, no package manager, nothing else to patch or exploit.
# The :nonroot variant runs as uid 65532. Distroless publishes no version tags: this tag moves
# with Debian 12's security fixes; pin its digest too for byte-for-byte reproducible images.
FROM gcr.io/distroless/base-debian12:nonroot
# /data must exist and belong to the runtime user before VOLUME: a new named volume copies
# this directory's owner, so the relay can create its SQLite file there.
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /src/dist/llm-relay /usr/local/bin/llm-relay
# From / the documented default `sqlite:./data/llm-relay.db` (e.g. from a copied .env.example)
# resolves to the same file in the volume.
WORKDIR /
ENV DATABASE_URL=sqlite:/data/llm-relay.db \
    HOST=0.0.0.0 \
    PORT=3000
VOLUME ["/data"]
EXPOSE 3000
# Numeric, so Kubernetes' runAsNonRoot can verify it (65532 is distroless's "nonroot").
USER 65532:65532
# There is no curl or shell here: the executable checks itself (GET /health on $PORT, exit 0 or 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/llm-relay", "healthcheck"]
# Exec form: the relay is PID 1 and gets SIGTERM itself, to drain within SHUTDOWN_TIMEOUT.
ENTRYPOINT ["/usr/local/bin/llm-relay"]
CMD ["serve"]
