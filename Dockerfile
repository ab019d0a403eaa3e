# Two stages: the build stage has the dev dependencies (TypeScript, the workflow bundler's inputs) and runs
# `npm run build`; the runtime stage has production dependencies and dist/ only. Nothing is compiled or bundled when
# a container starts: the worker loads dist/workflow-bundle.js.
#
#   docker build -t proxbox-intent .
#   docker run ... proxbox-intent node dist/scripts/start.js worker     # or: ... api (the default), dist/scripts/migrate.js

FROM node:20-bookworm-slim AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=8080 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist

USER node
EXPOSE 8080
CMD ["node", "dist/scripts/start.js", "api"]
