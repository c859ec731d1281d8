# syntax=docker/dockerfile:1
#
# One image for every CareCircle process; the command picks the role:
#   api      node dist/api/main.js                  (default CMD, HTTP on :3000, HEALTHCHECK below)
#   worker   node dist/workers/main.js              (Temporal worker; metrics/health on :9464 with
#                                                    WORKER_METRICS_HOST=0.0.0.0)
#   migrate  node dist/scripts/db-migrate.js deploy (one-shot: applies prisma/migrations, exits 0)
#
# build:    every dependency, the Prisma Client generated, `npm run build` (tsc to dist/ and the
#           prebuilt workflow bundle dist/workflow-bundle.js).
# deps:     production dependencies only (no Prisma CLI, tsx, TypeScript or test tools).
# runtime:  the two above, plain `node`, no compiler and no webpack at start.
#
#   docker build -t carecircle-workers .

# The Node of .nvmrc (test/deployment.test.ts keeps them equal).
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app

ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false \
    CHECKPOINT_DISABLE=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1

# Only what `npm ci` and its postinstall read, so source edits do not re-run the install:
# postinstall = scripts/install-tools.mjs + scripts/prisma-generate.mjs (-> generated/prisma).
# install-tools.mjs would fetch the Temporal CLI and test server (dev/test only); an existing
# executable in TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH is its documented "nothing to do".
COPY package.json package-lock.json prisma.config.ts ./
COPY scripts/install-tools.mjs scripts/prisma-generate.mjs ./scripts/
COPY prisma ./prisma
RUN --mount=type=cache,target=/root/.npm \
    TEMPORAL_CLI_PATH=/bin/true TEMPORAL_TEST_SERVER_PATH=/bin/true \
    npm ci \
 && test -f generated/prisma/client.ts

COPY . .
RUN npm run build && test -f dist/workflow-bundle.js

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the root postinstall is for development (it needs the Prisma CLI); the client
# it generates is compiled into dist/. --omit=optional drops the embedded PostgreSQL (`npm start`
# only) and native build tools' platform packages. The Temporal core bridge ships a native library
# for five platforms: keep this machine's.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --omit=optional --ignore-scripts \
 && case "$(uname -m)" in \
      x86_64) keep=x86_64-unknown-linux-gnu ;; \
      aarch64) keep=aarch64-unknown-linux-gnu ;; \
      *) echo "no Temporal core bridge for $(uname -m)" >&2; exit 1 ;; \
    esac \
 && find node_modules/@temporalio/core-bridge/releases -mindepth 1 -maxdepth 1 ! -name "$keep" -exec rm -rf {} + \
 && rm -rf node_modules/.cache

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

# tini as PID 1: forwards SIGTERM to node (graceful drain in api/worker) and reaps zombies. Same
# role as `init: true` in compose, but also under Kubernetes / ECS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# MALLOC_ARENA_MAX: two glibc malloc arenas instead of 8 per core for the worker's many threads
# (docs/queues.md, "Memory").
ENV NODE_ENV=production \
    API_HOST=0.0.0.0 \
    API_PORT=3000 \
    MALLOC_ARENA_MAX=2

# Code and dependencies stay owned by root (read-only for the app user). prisma/ holds the
# migrations the migrate role applies (and the schema they are checked against).
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY prisma ./prisma

# The official node image ships an unprivileged `node` user (uid 1000) with a home directory.
USER node

# 3000: the API. 9464: a worker's /metrics, /health, /ready, /status (WORKER_METRICS_PORT).
EXPOSE 3000 9464

# No curl/wget in the slim image: Node's fetch. /health answers 200 only when the database and
# the Temporal frontend both answer (503 otherwise).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.API_PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/api/main.js"]
