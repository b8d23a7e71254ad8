# lifetrace images: `--target server` (the dashboard, REST API and agent ingest, non-root) and
# `--target agent` (root, bpftrace from Debian bookworm). docker-compose.yml builds both.
#
# Node 20 or later is required, and Debian 12's nodejs is 18, so every stage is based on the
# official node:20-bookworm-slim (Debian 12): Node from that image, everything else from Debian.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: the TypeScript (server and dashboard) compiled to dist/, as `npm run build` does.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Scripts are skipped here: `prepare` would compile before the sources are copied; the build follows.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY server ./server
COPY web ./web
COPY test/bench ./test/bench
COPY test/support ./test/support
RUN npm run build

# --- deps: the runtime npm packages only, from package-lock.json: express and ws (the server),
# execa (bpftrace, QEMU), chart.js (served to the dashboard), prom-client (/metrics), and
# @nats-io/transport-node and @nats-io/jetstream (`agent --nats` and the fleet's NATS side, with
# @nats-io/nkeys for nkey and creds logins); bufferutil, optional, speeds up ws.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: what `node server/bin/lifetrace.js` reads. package.json marks the project root
# (server/support/paths.ts); web/ and node_modules/chart.js are served, probes/ is read by the
# agent, the sample capture by `lifetrace start`.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/server ./dist/server
COPY --from=build /src/dist/web ./dist/web
COPY server/bin ./server/bin
COPY web ./web
COPY probes ./probes
COPY test/fixtures/sample.ljsonl.gz ./test/fixtures/sample.ljsonl.gz
ENTRYPOINT ["node", "/app/server/bin/lifetrace.js"]
CMD ["--help"]

# --- agent: root (it loads BPF programs), bpftrace from Debian. Run it privileged, in the host's
# PID namespace, with tracefs/debugfs, BTF, /sys/fs/bpf and /lib/modules (see docker-compose.yml).
# `mount` (Debian's required set) lets the agent mount tracefs/debugfs where they are missing.
FROM runtime AS agent
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends bpftrace \
 && rm -rf /var/lib/apt/lists/*
CMD ["agent", "--help"]

# --- server: the unprivileged `node` user (uid 1000) of the base image; /data is its data
# directory (0700, as lifetrace keeps it), which a named volume mounted there inherits.
FROM runtime AS server
RUN mkdir -p /data \
 && chown node:node /data \
 && chmod 0700 /data
ENV LIFETRACE_DATA=/data
USER node
EXPOSE 7070
# In a container the server must listen on all interfaces, so it needs LIFETRACE_TOKEN (16+ chars).
CMD ["serve", "--host", "0.0.0.0", "--port", "7070", "--data", "/data"]
