# syntax=docker/dockerfile:1
#
# modelgate container image.
#
#   docker build -t modelgate:0.1.0 .
#
# Three stages: `build` compiles the TypeScript, `deps` installs the production
# dependencies only, and the runtime stage copies just what `node bin/modelgate.js`
# needs (package.json, node_modules, dist/src, bin, schemas/vendor, manifests/policy.yaml).
# The runtime writes nothing to disk (logs are JSON lines on stdout), so it runs
# with readOnlyRootFilesystem; the serving certificate is mounted and the policy
# is read from ConfigMaps through the API (see manifests/base/deployment.yaml).
#
# For reproducible builds pin the base images by digest, e.g.
#   docker build --build-arg NODE_IMAGE=node:24-bookworm-slim@sha256:... .
ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: compile src/ to dist/src/ with the dev dependencies (typescript) ---
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: package.json's `prepare` runs the build, and the sources are
# not copied yet (copying them later keeps this layer cached while only src/ changes).
# No dependency needs an install script.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- deps: production dependencies only; depends on the lock file alone ---
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ---
FROM ${NODE_IMAGE}
# npm, npx and corepack are not used at run time; removing them shrinks the image
# and what scanners report against it.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack
# The process's memory is bounded (the Deployment's limit is 256Mi) by what
# package.json's "config" says, and a unit test keeps this file equal to it:
# - a small young generation: under a steady stream of reviews V8 otherwise grows
#   it to tens of MB per semi-space (npm run bench:registry: 339 MB → 189 MB
#   after 100,000 admissions over 20,000 digests);
# - an old generation of 160 MB: room for the caches and review budgets
#   (about 110 MB together) and a collector that works before the limit nears;
# - two malloc arenas, and large blocks from mmap, so that freed memory goes
#   back to the system (npm run bench:abuse).
ENV NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=160" \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    NODE_ENV=production \
    MODELGATE_PORT=8443 \
    MODELGATE_TLS_CERT=/etc/modelgate/tls/tls.crt \
    MODELGATE_TLS_KEY=/etc/modelgate/tls/tls.key \
    MODELGATE_POLICY=/etc/modelgate/policies
WORKDIR /app
# Files stay owned by root and read-only to the runtime user.
COPY package.json ./
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY bin ./bin
# The ModelPack specification's config schema, which artifact/modelpack-config.ts compiles.
COPY schemas/vendor ./schemas/vendor
# The bundled default policy, where the package looks for it (package-root.ts)...
COPY manifests/policy.yaml ./manifests/policy.yaml
# ...and at MODELGATE_POLICY, so the image works outside a cluster too
# (`docker run ... modelgate:0.1.0 check -f - < pod.yaml`). The Deployment sets
# MODELGATE_POLICY="" so that `serve` watches the policy ConfigMaps instead.
COPY manifests/policy.yaml /etc/modelgate/policies/policy.yaml
# Numeric, so the kubelet can verify runAsNonRoot; 65532 is the conventional
# "nonroot" uid and owns no file in the image.
USER 65532:65532
EXPOSE 8443
# node is PID 1: `serve` handles SIGTERM itself (answers in-flight reviews, then exits).
ENTRYPOINT ["node", "bin/modelgate.js"]
CMD ["serve"]
