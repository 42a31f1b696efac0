# The Herald gateway image that Azure Container Apps runs (azure.yaml, docs/deploy.md).

# Build: all dependencies, TypeScript compiled to dist/.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off here: `prepare` compiles, and the sources are not copied yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# Run: production dependencies and the compiled code only, as the unprivileged `node` user.
FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    HERALD_HOST=0.0.0.0 \
    HERALD_PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run tsc, which is a dev dependency; dist/ comes from the build stage.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY --from=build /app/dist ./dist
# The demo page's static files (gateway/demo/routes.ts finds them beside dist/).
COPY gateway/demo/index.html gateway/demo/app.js gateway/demo/style.css ./gateway/demo/
USER node
EXPOSE 3000
CMD ["node", "bin/herald.js", "gateway"]
