// The Bicep templates compile, lint clean, and set every setting the code needs in Azure on both the
// gateway and the Functions app, under the names of core/config.ts, with no secret anywhere.
// Needs the Bicep CLI: HERALD_BICEP, else bicep/tools/.cli/bicep (bicep/tools/get-bicep.sh), else PATH.
import { execFile } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AZURE_REQUIRED_SETTINGS, SETTINGS } from "../core/config.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const bicepDir = join(root, "bicep");

function findBicep(): string | undefined {
  const fromEnv = process.env.HERALD_BICEP;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  const restored = join(bicepDir, "tools", ".cli", "bicep");
  if (existsSync(restored)) return restored;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, "bicep"))) return join(dir, "bicep");
  }
  return undefined;
}

const bicep = findBicep();
const missing =
  "no Bicep CLI found: run bicep/tools/get-bicep.sh, or set HERALD_BICEP to a bicep executable" +
  (process.env.HERALD_BICEP ? ` (HERALD_BICEP=${process.env.HERALD_BICEP} does not exist)` : "");

// main.bicepparam reads these from the environment; the values stand for a user's identity provider.
const deployEnv = {
  AZURE_ENV_NAME: "herald-ci",
  HERALD_JWT_JWKS_URL: "https://login.example.com/.well-known/jwks.json",
  HERALD_JWT_ISSUER: "https://login.example.com/",
  HERALD_JWT_AUDIENCE: "api://herald-ci",
  HERALD_ALLOWED_ORIGINS: "https://app.example.com",
  SERVICE_GATEWAY_IMAGE_NAME: "",
};

/** Settings the platform or an Azure SDK reads, not Herald's code. */
const PLATFORM_SETTING =
  /^(AZURE_CLIENT_ID|APPLICATIONINSIGHTS_CONNECTION_STRING|APPLICATIONINSIGHTS_AUTHENTICATION_STRING|FUNCTIONS_EXTENSION_VERSION|FUNCTIONS_WORKER_RUNTIME|AzureWebJobsStorage__\w+|WEBSITE_\w+)$/;

/**
 * `X__credential` / `X__clientId` pick the identity of a Functions identity-based connection; allowed
 * where X is one of Herald's connection settings (it has `X__…` forms in SETTINGS).
 */
function isIdentityQualifier(name: string): boolean {
  const m = /^(\w+?)__(credential|clientId)$/.exec(name);
  if (!m?.[1]) return false;
  const base = m[1];
  return base in SETTINGS && Object.keys(SETTINGS).some((k) => k.startsWith(`${base}__`));
}

/** Text that would mean a key or a connection string with a secret is read, passed or output. */
const SECRET_PATTERNS = [
  /\blist[A-Z]\w*\(/, // listKeys(), listConnectionStrings(), listCredentials(), …
  /SharedAccessKey/i,
  /AccountKey/i,
  /\b(primary|secondary)(Shared|Master)?Keys?\b/i,
  /securestring|secureobject/i,
];

// ---- A small reader of compiled ARM templates ----

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A template and how to find the values of its parameters. */
interface Scope {
  template: JsonObject;
  /** For a module: its deployment's parameters (expressions in the parent scope). */
  moduleParams?: JsonObject;
  parent?: Scope;
  /** For the top level: the values from the parameters file. */
  topParams?: JsonObject;
}

const UNKNOWN = Symbol("unknown");
type Resolved = Json | typeof UNKNOWN;

const SIMPLE_EXPR = /^\[(parameters|variables)\('([^']+)'\)((?:\.\w+)*)\]$/;

/**
 * Resolves literals and the plain forms `[parameters('p').a.b]` / `[variables('v').a]` through module
 * boundaries down to the parameters file; anything computed at deployment time is UNKNOWN.
 */
function resolve(value: Json | undefined, scope: Scope): Resolved {
  if (value === undefined) return UNKNOWN;
  if (typeof value !== "string") return value;
  if (!value.startsWith("[") || value.startsWith("[[")) return value;
  const m = SIMPLE_EXPR.exec(value);
  if (!m) return UNKNOWN;
  const [, kind, name = "", path = ""] = m;
  let base: Resolved;
  if (kind === "variables") {
    base = resolveDeep((scope.template.variables as JsonObject | undefined)?.[name], scope);
  } else if (scope.parent && scope.moduleParams) {
    const p = scope.moduleParams[name];
    base = isObject(p) ? resolveDeep(p.value, scope.parent) : UNKNOWN;
  } else {
    const fromFile = scope.topParams?.[name];
    const decl = (scope.template.parameters as JsonObject | undefined)?.[name];
    base = isObject(fromFile)
      ? (fromFile.value ?? UNKNOWN)
      : isObject(decl)
        ? resolve(decl.defaultValue, scope)
        : UNKNOWN;
  }
  for (const key of path.split(".").filter(Boolean)) {
    if (!isObject(base)) return UNKNOWN;
    base = base[key] ?? UNKNOWN;
  }
  return base;
}

/** resolve(), then into the members of an object literal. */
function resolveDeep(value: Json | undefined, scope: Scope): Resolved {
  const r = resolve(value, scope);
  if (!isObject(r)) return r;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(r)) {
    const rv = resolveDeep(v, scope);
    if (rv !== UNKNOWN) out[k] = rv;
  }
  return out;
}

interface FoundResource {
  resource: JsonObject;
  scope: Scope;
}

/** Every resource in the template and in its modules (nested deployments), with its scope. */
function allResources(scope: Scope): FoundResource[] {
  const raw = scope.template.resources;
  const list = Array.isArray(raw) ? raw : isObject(raw) ? Object.values(raw) : [];
  const out: FoundResource[] = [];
  for (const r of list) {
    if (!isObject(r)) continue;
    out.push({ resource: r, scope });
    const props = r.properties;
    if (r.type === "Microsoft.Resources/deployments" && isObject(props) && isObject(props.template)) {
      const moduleParams = isObject(props.parameters) ? props.parameters : {};
      out.push(...allResources({ template: props.template, moduleParams, parent: scope }));
    }
  }
  return out;
}

function ofType(resources: FoundResource[], type: string): FoundResource[] {
  return resources.filter((r) => r.resource.type === type);
}

function only(resources: FoundResource[], type: string): FoundResource {
  const found = ofType(resources, type);
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0] as FoundResource;
}

function prop(o: Json | undefined, path: string): Json | undefined {
  let cur: Json | undefined = o;
  for (const key of path.split(".")) {
    if (Array.isArray(cur) && /^\d+$/.test(key)) cur = cur[Number(key)];
    else if (isObject(cur)) cur = cur[key];
    else return undefined;
  }
  return cur;
}

/** name -> resolved value of an env / appSettings array of { name, value }. */
function settingsOf(list: Json | undefined, scope: Scope): Map<string, Resolved> {
  expect(Array.isArray(list), "a literal array of { name, value }").toBe(true);
  const out = new Map<string, Resolved>();
  for (const entry of list as Json[]) {
    expect(isObject(entry) && typeof entry.name === "string", "a { name, value } entry").toBe(true);
    const e = entry as JsonObject;
    const name = e.name as string;
    expect(out.has(name), `${name} set once`).toBe(false);
    out.set(name, resolve(e.value, scope));
  }
  return out;
}

/** name -> value as written in the template, expression or literal. */
function rawSettings(list: Json | undefined): Map<string, Json | undefined> {
  const out = new Map<string, Json | undefined>();
  for (const entry of Array.isArray(list) ? list : []) {
    if (isObject(entry) && typeof entry.name === "string") out.set(entry.name, entry.value);
  }
  return out;
}

/** Every object anywhere inside `value`. */
function* objectsIn(value: Json | undefined): Generator<JsonObject> {
  if (Array.isArray(value)) for (const v of value) yield* objectsIn(v);
  else if (isObject(value)) {
    yield value;
    for (const v of Object.values(value)) yield* objectsIn(v);
  }
}

function run(file: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise) => {
    execFile(
      file,
      args,
      { cwd: bicepDir, env: { ...process.env, ...deployEnv }, timeout: 120_000, maxBuffer: 32 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolvePromise({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

/** Diagnostics at warning level or above, in Bicep's default format `file(l,c) : Warning code: …`. */
function problems(output: string): string[] {
  return output.split("\n").filter((line) => / : (Warning|Error) /.test(line));
}

function bicepFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...bicepFiles(path));
    else if (entry.name.endsWith(".bicep")) out.push(relative(bicepDir, path));
  }
  return out.sort();
}

describe("deployment files (no Bicep CLI needed)", () => {
  it("docs/deploy.md lists every setting required in Azure", () => {
    const doc = readFileSync(join(root, "docs", "deploy.md"), "utf8");
    for (const name of AZURE_REQUIRED_SETTINGS) expect(doc, name).toContain(`\`${name}\``);
  });

  it("the Dockerfile builds on Node 22 and runs the gateway as a non-root user with production dependencies", () => {
    const text = readFileSync(join(root, "Dockerfile"), "utf8");
    const froms = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const image of froms) expect(image).toMatch(/^node:22[.-]/);
    const runtime = text.slice(text.lastIndexOf("\nFROM "));
    expect(runtime).toMatch(/npm ci\b[^\n]*--omit=dev/);
    expect(runtime).toMatch(/npm ci\b[^\n]*--ignore-scripts/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^CMD \["node", "bin\/herald\.js", "gateway"\]$/m);
    expect(runtime).toMatch(/HERALD_HOST=0\.0\.0\.0/);
  });

  it("azure.yaml deploys the gateway to Container Apps and the Functions app, from bicep/", () => {
    const text = readFileSync(join(root, "azure.yaml"), "utf8");
    expect(text).toMatch(/^infra:\n(?: {2}.*\n)*? {2}path: bicep$/m);
    expect(text).toMatch(/^ {2}gateway:\n(?: {4}.*\n)*? {4}host: containerapp$/m);
    expect(text).toMatch(/^ {2}functions:\n(?: {4}.*\n)*? {4}host: function$/m);
  });
});

describe("Bicep templates", () => {
  if (!bicep) {
    if (process.env.CI === "true") {
      it("finds the Bicep CLI (required in CI)", () => {
        expect.fail(missing);
      });
    } else {
      it.skip(`compile and lint (skipped: ${missing})`, () => undefined);
    }
    return;
  }
  const cli = bicep;

  let out = "";
  const runs: Record<"build" | "params" | "lint", { code: number; output: string }> = {
    build: { code: -1, output: "" },
    params: { code: -1, output: "" },
    lint: { code: -1, output: "" },
  };
  let main: JsonObject = {};
  let parameters: JsonObject = {};

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), "herald-bicep-"));
    // One process per command keeps this to a few seconds (the CLI starts in about one);
    // --no-restore keeps it off the network (it would fetch the public module index).
    let lintParams: { code: number; output: string };
    [runs.build, runs.params, runs.lint, lintParams] = await Promise.all([
      run(cli, ["build", "--no-restore", "--pattern", "**/*.bicep", "--outdir", join(out, "templates")]),
      run(cli, ["build-params", "--no-restore", "main.bicepparam", "--outdir", join(out, "params")]),
      run(cli, ["lint", "--no-restore", "--pattern", "**/*.bicep"]),
      run(cli, ["lint", "--no-restore", "main.bicepparam"]),
    ]);
    runs.lint = {
      code: runs.lint.code || lintParams.code,
      output: `${runs.lint.output}${lintParams.output}`,
    };
    if (runs.build.code === 0) {
      main = JSON.parse(await readFile(join(out, "templates", "main.json"), "utf8")) as JsonObject;
    }
    if (runs.params.code === 0) {
      const file = JSON.parse(await readFile(join(out, "params", "main.json"), "utf8")) as JsonObject;
      parameters = isObject(file.parameters) ? file.parameters : {};
    }
  }, 180_000);

  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it("builds every .bicep file with no warning", async () => {
    expect(runs.build.code, runs.build.output).toBe(0);
    expect(problems(runs.build.output)).toEqual([]);
    const files = bicepFiles(bicepDir);
    expect(files).toContain("main.bicep");
    for (const f of files) {
      expect(existsSync(join(out, "templates", f.replace(/\.bicep$/, ".json"))), f).toBe(true);
    }
  });

  it("builds main.bicepparam with no warning", () => {
    expect(runs.params.code, runs.params.output).toBe(0);
    expect(problems(runs.params.output)).toEqual([]);
    expect(prop(parameters, "jwtIssuer.value")).toBe(deployEnv.HERALD_JWT_ISSUER);
  });

  it("lints every template and the parameters file clean", () => {
    expect(runs.lint.code, runs.lint.output).toBe(0);
    expect(problems(runs.lint.output)).toEqual([]);
  });

  describe("compiled main.bicep", () => {
    let resources: FoundResource[] = [];
    let gateway: Map<string, Resolved> = new Map();
    let functions: Map<string, Resolved> = new Map();
    let containerApp: FoundResource;
    let functionApp: FoundResource;

    beforeAll(() => {
      expect(runs.build.code, "main.bicep built").toBe(0);
      resources = allResources({ template: main, topParams: parameters });
      containerApp = only(resources, "Microsoft.App/containerApps");
      functionApp = only(resources, "Microsoft.Web/sites");
      const containers = prop(containerApp.resource, "properties.template.containers");
      expect(Array.isArray(containers) && containers.length === 1, "one container").toBe(true);
      gateway = settingsOf(
        prop(containerApp.resource, "properties.template.containers.0.env"),
        containerApp.scope,
      );
      functions = settingsOf(
        prop(functionApp.resource, "properties.siteConfig.appSettings"),
        functionApp.scope,
      );
    });

    it("sets every setting required in Azure on both the gateway and the Functions app", () => {
      for (const name of AZURE_REQUIRED_SETTINGS) {
        expect(gateway.has(name), `gateway sets ${name}`).toBe(true);
        expect(functions.has(name), `Functions app sets ${name}`).toBe(true);
      }
    });

    it("names every setting as core/config.ts does (or as the platform does)", () => {
      for (const [where, settings] of [
        ["gateway", gateway],
        ["Functions app", functions],
      ] as const) {
        for (const name of settings.keys()) {
          const known = name in SETTINGS || PLATFORM_SETTING.test(name) || isIdentityQualifier(name);
          expect(known, `${where} sets ${name}, which core/config.ts does not define`).toBe(true);
        }
      }
    });

    it("gives both apps the same store, topic, hub, retention and identity provider", () => {
      expect(gateway.get("HERALD_STORE")).toBe("table");
      expect(functions.get("HERALD_STORE")).toBe("table");
      expect(gateway.get("HERALD_TOPIC")).toBe("notifications");
      expect(gateway.get("HERALD_SUBSCRIPTION")).toBe("gateway");
      expect(functions.get("HERALD_FANOUT_SUBSCRIPTION")).toBe("fanout");
      expect(functions.has("HERALD_SUBSCRIPTION")).toBe(false);
      expect(gateway.get("HERALD_JWT_JWKS_URL")).toBe(deployEnv.HERALD_JWT_JWKS_URL);
      expect(gateway.get("HERALD_JWT_ISSUER")).toBe(deployEnv.HERALD_JWT_ISSUER);
      expect(gateway.get("HERALD_JWT_AUDIENCE")).toBe(deployEnv.HERALD_JWT_AUDIENCE);
      expect(gateway.get("HERALD_ALLOWED_ORIGINS")).toBe(deployEnv.HERALD_ALLOWED_ORIGINS);
      // Both modules get one `settings` object from main.bicep and write each field the same way.
      const shared = prop(containerApp.scope.moduleParams, "settings.value");
      expect(shared).toBeDefined();
      expect(prop(functionApp.scope.moduleParams, "settings.value")).toEqual(shared);
      const gatewayRaw = rawSettings(prop(containerApp.resource, "properties.template.containers.0.env"));
      const functionsRaw = rawSettings(prop(functionApp.resource, "properties.siteConfig.appSettings"));
      const perApp = new Set([
        "HERALD_SUBSCRIPTION",
        "HERALD_FANOUT_SUBSCRIPTION",
        "HERALD_HOST",
        "HERALD_PORT",
        "HERALD_PUBLIC_URL",
      ]);
      let compared = 0;
      for (const [name, value] of gateway) {
        if (!name.startsWith("HERALD_") || perApp.has(name) || !functions.has(name)) continue;
        const other = functions.get(name);
        if (value !== UNKNOWN && other !== UNKNOWN) expect(other, name).toEqual(value);
        else expect(functionsRaw.get(name), name).toEqual(gatewayRaw.get(name));
        compared++;
      }
      expect(compared).toBeGreaterThanOrEqual(13);
      // Negotiate answers from the Functions app point SSE and long-poll at the gateway.
      expect(JSON.stringify(prop(functionApp.scope.moduleParams, "gatewayUrl.value"))).toContain(
        "reference('gateway').outputs.url",
      );
    });

    it("uses identity-based connections only: no connection-string setting, key or secret anywhere", () => {
      for (const name of [...gateway.keys(), ...functions.keys()]) {
        if (name in SETTINGS) {
          expect(SETTINGS[name as keyof typeof SETTINGS].kind, `${name} holds a secret`).not.toBe("secret");
        }
      }
      expect(prop(containerApp.resource, "properties.configuration.secrets")).toBeUndefined();
      const text = JSON.stringify(main);
      for (const pattern of SECRET_PATTERNS) expect(text).not.toMatch(pattern);
      for (const [name, output] of Object.entries(isObject(main.outputs) ? main.outputs : {})) {
        expect(prop(output, "type"), `output ${name}`).toBe("string");
      }
    });

    it("turns off local (key) auth and requires TLS 1.2", () => {
      const sb = only(resources, "Microsoft.ServiceBus/namespaces").resource;
      expect(prop(sb, "properties.disableLocalAuth")).toBe(true);
      expect(prop(sb, "properties.minimumTlsVersion")).toBe("1.2");
      const wps = only(resources, "Microsoft.SignalRService/webPubSub").resource;
      expect(prop(wps, "properties.disableLocalAuth")).toBe(true);
      const st = only(resources, "Microsoft.Storage/storageAccounts").resource;
      expect(prop(st, "properties.allowSharedKeyAccess")).toBe(false);
      expect(prop(st, "properties.minimumTlsVersion")).toBe("TLS1_2");
      const appi = only(resources, "Microsoft.Insights/components").resource;
      expect(prop(appi, "properties.DisableLocalAuth")).toBe(true);
      const acr = only(resources, "Microsoft.ContainerRegistry/registries").resource;
      expect(prop(acr, "properties.adminUserEnabled")).toBe(false);
      expect(prop(functionApp.resource, "properties.siteConfig.minTlsVersion")).toBe("1.2");
      expect(prop(functionApp.resource, "properties.httpsOnly")).toBe(true);
      for (const policy of ofType(resources, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")) {
        expect(prop(policy.resource, "properties.allow")).toBe(false);
      }
    });

    it("creates the topic, both subscriptions with dead-lettering, and the hub", () => {
      const topic = only(resources, "Microsoft.ServiceBus/namespaces/topics").resource;
      expect(prop(topic, "properties.requiresDuplicateDetection")).toBe(true);
      const sub = only(resources, "Microsoft.ServiceBus/namespaces/topics/subscriptions");
      expect(prop(sub.resource, "copy")).toBeDefined(); // one per entry of `subscriptions`
      expect(prop(sub.resource, "properties.deadLetteringOnMessageExpiration")).toBe(true);
      expect(prop(sub.resource, "properties.deadLetteringOnFilterEvaluationExceptions")).toBe(true);
      expect(resolve(prop(sub.resource, "properties.maxDeliveryCount"), sub.scope)).toBe(10);
      const rule = only(resources, "Microsoft.ServiceBus/namespaces/topics/subscriptions/rules").resource;
      expect(prop(rule, "properties.filterType")).toBe("SqlFilter");
      only(resources, "Microsoft.SignalRService/webPubSub/hubs");
      only(resources, "Microsoft.Storage/storageAccounts/tableServices/tables");
    });

    it("runs the gateway with public ingress, health probes, one replica always on, and two scale rules", () => {
      const app = containerApp.resource;
      expect(prop(app, "properties.configuration.ingress.external")).toBe(true);
      expect(["auto", "http"]).toContain(prop(app, "properties.configuration.ingress.transport"));
      expect(gateway.get("HERALD_HOST")).toBe("0.0.0.0");
      expect(gateway.has("HERALD_PORT")).toBe(true);
      const minReplicas = resolve(prop(app, "properties.template.scale.minReplicas"), containerApp.scope);
      expect(minReplicas).toBeGreaterThanOrEqual(1);
      const probes = [...objectsIn(containerApp.scope.template)].filter((o) => typeof o.type === "string");
      const probe = (type: string) => probes.find((p) => p.type === type && isObject(p.httpGet));
      expect(prop(probe("Liveness"), "httpGet.path")).toBe("/healthz");
      expect(prop(probe("Readiness"), "httpGet.path")).toBe("/readyz");
      const rules = prop(app, "properties.template.scale.rules");
      expect(Array.isArray(rules)).toBe(true);
      const custom = (rules as Json[]).map((r) => prop(r, "custom.type"));
      expect(custom).toContain("azure-servicebus");
      const sbRule = (rules as Json[]).find((r) => prop(r, "custom.type") === "azure-servicebus");
      expect(
        prop(sbRule, "custom.identity"),
        "the scale rule reads the backlog with the identity",
      ).toBeDefined();
      expect((rules as Json[]).some((r) => prop(r, "http.metadata.concurrentRequests") !== undefined)).toBe(
        true,
      );
      expect(prop(app, "properties.configuration.registries.0.identity")).toBeDefined();
    });

    it("runs the Functions app on Flex Consumption with Node 22, deployed with its identity", () => {
      const plan = only(resources, "Microsoft.Web/serverfarms").resource;
      expect(prop(plan, "sku.name")).toBe("FC1");
      const config = prop(functionApp.resource, "properties.functionAppConfig");
      expect(prop(config, "runtime.name")).toBe("node");
      expect(prop(config, "runtime.version")).toBe("22");
      expect(prop(config, "deployment.storage.authentication.type")).toBe("UserAssignedIdentity");
      expect(functions.get("HERALD_SERVICEBUS__credential")).toBe("managedidentity");
      expect(functions.get("AzureWebJobsStorage__credential")).toBe("managedidentity");
      // Flex Consumption refuses these two as app settings.
      expect(functions.has("FUNCTIONS_WORKER_RUNTIME")).toBe(false);
      expect(functions.has("FUNCTIONS_EXTENSION_VERSION")).toBe(false);
    });

    it("grants roles to the apps' identities, never to keys", () => {
      const assignments = ofType(resources, "Microsoft.Authorization/roleAssignments");
      expect(assignments.length).toBeGreaterThanOrEqual(7);
      for (const a of assignments)
        expect(prop(a.resource, "properties.principalType")).toBe("ServicePrincipal");
    });
  });
});
