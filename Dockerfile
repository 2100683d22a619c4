# syntax=docker/dockerfile:1
# Build: dev dependencies, TypeScript build, and @tensorflow/tfjs-node's native library (the build has internet).
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
RUN npm ci && npm prune --omit=dev

# Runtime: production dependencies and the compiled code only, as an unprivileged user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    MODEL_CACHE_DIR=/home/node/.cache/ml-trainer
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
USER node
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["--help"]
