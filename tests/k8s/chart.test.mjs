// Offline checks of the Helm chart and the cluster prerequisites (make test-k8s): the real helm
// renders each platform, every object is validated against the Kubernetes and CRD schemas
// (unknown fields refused) and against waitline's policies. Run: scripts/platform/k8s.sh validate
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { readFileSync, readdirSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { parseManifests, allErrors, policyErrors, schemaErrors, podSpecOf, quotaScopeErrors } from "./validate.mjs";

const root = new URL("../../", import.meta.url).pathname;
const chart = join(root, "deploy/helm/waitline");
const helmBin = join(root, ".cache/bin/helm");
// The platforms, their queues and settings: deploy/platforms.conf, through its one reader.
const reader = join(root, "scripts/platform/platforms.py");
const described = JSON.parse(execFileSync("python3", [reader, "json"], { encoding: "utf8" }));
const platforms = ["dev", "qualif", "prod"];
const { queues } = described;
const filesIn = (dir, suffix) => readdirSync(join(root, dir)).filter((f) => f.endsWith(suffix)).sort();
const ruleFiles = filesIn("observability/prometheus/rules", ".rules.yml");
const dashboardFiles = filesIn("observability/dashboards", ".json");

// What scripts/platform/k8s.sh passes from .cache/images.env and .secrets/, with made-up values.
const tag = "0.1.0-0123456789ab";
const fixture = [
  "--set", `image.tag=${tag},redis.image.tag=${tag},redis.exporter.image.tag=${tag}`,
  "--set", "redis.auth.password=not-a-secret,tests.apiKey=wl_test",
  "--set", `apiKeys.ticketSecret=${"t".repeat(64)}`,
  ...queues.flatMap((q) => ["--set-json", `apiKeys.files.${q}=${JSON.stringify(`desk take,call,read ${"0".repeat(64)}`)}`]),
];

// What the tests write (values, the packaged chart, the helm test's keys and Redis): one directory,
// removed however this process ends: passing, failing, or stopped by a signal (which then still
// ends it).
const scratch = mkdtempSync(join(tmpdir(), "waitline-k8s-"));
const removeScratch = () => rmSync(scratch, { recursive: true, force: true });
process.once("exit", removeScratch);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"])
  process.once(signal, () => { removeScratch(); process.kill(process.pid, signal); });
const scratchDir = (name) => { const dir = join(scratch, name); mkdirSync(dir); return dir; };

function helm(args) {
  const run = spawnSync(helmBin, args, { cwd: root, encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}
// What scripts/platform/k8s.sh passes before values-<platform>.yaml: the platform's values from
// deploy/platforms.conf.
const generated = scratchDir("values");
const valuesOf = (platform) => {
  const file = join(generated, `${platform}.json`);
  writeFileSync(file, execFileSync("python3", [reader, "helm-values", platform], { encoding: "utf8" }));
  return ["-f", file, "-f", join(chart, `values-${platform}.yaml`)];
};
function render(platform, extra = []) {
  const run = helm(["template", "waitline", chart, "--namespace", `waitline-${platform}`,
    ...valuesOf(platform), ...fixture, ...extra]);
  assert.equal(run.status, 0, run.stderr);
  return parseManifests(run.stdout);
}
const rendered = Object.fromEntries(platforms.map((p) => [p, render(p)]));
const ofKind = (objects, kind) => objects.filter((o) => o.kind === kind);
const named = (objects, kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);

test("observability/ has rule files and dashboards to render", () => {
  assert.ok(ruleFiles.length > 0, "no observability/prometheus/rules/*.rules.yml");
  assert.ok(dashboardFiles.length > 0, "no observability/dashboards/*.json");
});

for (const platform of platforms) {
  test(`${platform}: helm lint --strict passes`, () => {
    const run = helm(["lint", "--strict", chart, ...valuesOf(platform), ...fixture]);
    assert.equal(run.status, 0, run.stdout + run.stderr);
  });

  test(`${platform}: every rendered object is valid (schemas, no unknown field) and follows the policies`, async () => {
    assert.deepEqual(await allErrors(rendered[platform]), []);
  });

  test(`${platform}: each queue has a Deployment, Service, HPA, PDB and an HTTPRoute; Redis keeps AOF on a claim`, () => {
    const objects = rendered[platform];
    for (const queue of queues)
      for (const kind of ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "HTTPRoute"])
        assert.ok(named(objects, kind, `waitline-${queue}`), `${kind} waitline-${queue}`);
    const redis = named(objects, "StatefulSet", "waitline-redis");
    assert.equal(redis.spec.volumeClaimTemplates[0].spec.storageClassName, "local-path");
    const conf = named(objects, "ConfigMap", "waitline-redis").data["waitline.conf"];
    assert.equal(conf, readFileSync(join(root, "deploy/docker/redis/redis.conf"), "utf8"));
    assert.match(conf, /^appendonly yes$/m);
  });

  test(`${platform}: ${platform === "prod" ? "three Redis servers with a Sentinel each, on three nodes, which the queues ask" : "one Redis, which the queues reach by name"}`, () => {
    const objects = rendered[platform];
    const redis = named(objects, "StatefulSet", "waitline-redis");
    const containers = redis.spec.template.spec.containers;
    const queueEnv = Object.fromEntries(named(objects, "Deployment", "waitline-rubis").spec.template.spec.containers[0].env
      .map((e) => [e.name, e.value]));
    if (platform !== "prod") {
      assert.equal(redis.spec.replicas, 1);
      assert.deepEqual(containers.map((c) => c.name), ["redis", "redis-exporter"]);
      assert.equal(queueEnv.WAITLINE_REDIS_SENTINELS, undefined);
      return;
    }
    assert.equal(redis.spec.replicas, 3);
    assert.equal(redis.spec.podManagementPolicy, "Parallel");
    assert.deepEqual(containers.map((c) => c.name), ["redis", "sentinel", "redis-exporter", "sentinel-exporter"]);
    const [antiAffinity] = redis.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    assert.equal(antiAffinity.topologyKey, "kubernetes.io/hostname");
    assert.deepEqual(antiAffinity.labelSelector.matchLabels, redis.spec.selector.matchLabels);
    const sentinels = "waitline-redis-0.waitline-redis:26379,waitline-redis-1.waitline-redis:26379,waitline-redis-2.waitline-redis:26379";
    const env = (c) => Object.fromEntries(c.env.map((e) => [e.name, e.value]));
    assert.equal(env(containers[0]).REDIS_SENTINELS, sentinels);
    assert.equal(env(containers[0]).REDIS_FIRST_PRIMARY, "waitline-redis-0.waitline-redis");
    assert.equal(env(containers[0]).REDIS_ANNOUNCE, "$(POD_NAME).waitline-redis");
    assert.deepEqual(containers[1].args, ["sentinel"]);
    assert.equal(env(containers[1]).SENTINEL_ANNOUNCE, "$(POD_NAME).waitline-redis");
    assert.equal(queueEnv.WAITLINE_REDIS_SENTINELS, sentinels);
    assert.equal(queueEnv.WAITLINE_REDIS_ACK_REPLICAS, "1");
    const service = named(objects, "Service", "waitline-redis");
    assert.equal(service.spec.publishNotReadyAddresses, true);
    assert.deepEqual(service.spec.ports.map((p) => p.port), [6379, 26379]);
    assert.equal(named(objects, "PodDisruptionBudget", "waitline-redis").spec.maxUnavailable, 1);
    const replication = named(objects, "NetworkPolicy", "waitline-redis-replication");
    assert.deepEqual(replication.spec.policyTypes, ["Ingress", "Egress"]);
    assert.deepEqual(replication.spec.egress[0].ports.map((p) => p.port), [6379, 26379]);
  });

  test(`${platform}: routes are /<queue> on the platform's host names, rewritten, with X-Forwarded-Prefix, to the API port only`, () => {
    const hosts = platform === "prod" ? ["waitline.example", "prod.waitline.example"] : [`${platform}.waitline.example`];
    const routes = ofKind(rendered[platform], "HTTPRoute");
    assert.deepEqual(routes.map((r) => r.spec.rules[0].matches[0].path.value).sort(), queues.map((q) => `/${q}`).sort());
    for (const route of routes) {
      const [rule] = route.spec.rules;
      const prefix = rule.matches[0].path.value;
      assert.deepEqual(route.spec.hostnames, hosts);
      assert.equal(rule.matches[0].path.type, "PathPrefix");
      assert.deepEqual(rule.filters.find((f) => f.type === "URLRewrite").urlRewrite.path,
        { type: "ReplacePrefixMatch", replacePrefixMatch: "/" });
      assert.deepEqual(rule.filters.find((f) => f.type === "RequestHeaderModifier").requestHeaderModifier.set,
        [{ name: "X-Forwarded-Prefix", value: prefix }]);
      assert.deepEqual(rule.backendRefs.map((b) => b.port), [8000]);
    }
    for (const service of ofKind(rendered[platform], "Service"))
      assert.ok(!service.spec.ports.some((p) => p.port === 8001), `${service.metadata.name} exposes the admin port`);
  });

  test(`${platform}: priority class and quotas keep production's share (R11)`, () => {
    const objects = rendered[platform];
    const expected = platform === "prod" ? "waitline-production" : "waitline-nonprod";
    for (const object of objects) if (podSpecOf(object)) assert.equal(podSpecOf(object).priorityClassName, expected);
    const quotas = ofKind(objects, "ResourceQuota");
    assert.ok(quotas.some((q) => !q.spec.scopeSelector && q.spec.hard["requests.cpu"]), "no namespace budget");
    const classQuota = quotas.find((q) => q.spec.scopeSelector);
    assert.deepEqual(classQuota.spec.scopeSelector.matchExpressions[0].values, ["waitline-production"]);
    if (platform !== "prod") assert.equal(classQuota.spec.hard.pods, "0");
    assert.equal(ofKind(objects, "LimitRange").length, 1);
  });

  test(`${platform}: network policies deny by default and allow only the platform's flows`, () => {
    const policies = ofKind(rendered[platform], "NetworkPolicy");
    const deny = policies.find((p) => Object.keys(p.spec.podSelector).length === 0);
    assert.deepEqual(deny.spec.policyTypes, ["Ingress", "Egress"]);
    assert.ok(!deny.spec.ingress && !deny.spec.egress);
    const ports = (rules) => rules.flatMap((r) => r.ports.map((p) => p.port));
    const ingressPorts = policies.flatMap((p) => ports(p.spec.ingress ?? []));
    const egressPorts = policies.flatMap((p) => ports(p.spec.egress ?? []));
    const sentinel = platform === "prod";  // a replicated Redis: its Sentinels, and replication between its pods
    assert.deepEqual([...new Set(ingressPorts)].map(String).sort(),
      ["admin", "api", "redis", "redis-metrics", ...(sentinel ? [26379, 6379, "sentinel", "sentinel-metrics"] : [])].map(String).sort());
    assert.deepEqual([...new Set(egressPorts)].sort((a, b) => a - b), sentinel ? [53, 6379, 8000, 26379] : [53, 6379, 8000]);
  });

  test(`${platform}: PodMonitor gives every target platform, and queue replicas their queue`, () => {
    const [monitor] = ofKind(rendered[platform], "PodMonitor");
    assert.deepEqual(monitor.spec.podMetricsEndpoints.map((e) => e.port),
      ["admin", "redis-metrics", ...(platform === "prod" ? ["sentinel-metrics"] : [])]);
    for (const endpoint of monitor.spec.podMetricsEndpoints) {
      assert.ok(endpoint.relabelings.some((r) => r.targetLabel === "platform" && r.replacement === platform));
      assert.ok(endpoint.relabelings.some((r) => r.targetLabel === "queue" && r.sourceLabels[0] === "__meta_kubernetes_pod_label_waitline_queue"));
    }
    for (const d of ofKind(rendered[platform], "Deployment"))
      assert.equal(d.spec.template.metadata.labels["waitline/queue"], d.metadata.name.replace("waitline-", ""));
  });
}

test("prod renders one PrometheusRule per rule file and one dashboard ConfigMap per dashboard, equal to the sources", () => {
  const rules = ofKind(rendered.prod, "PrometheusRule");
  assert.equal(rules.length, ruleFiles.length);
  for (const file of ruleFiles) {
    const rule = rules.find((r) => r.metadata.annotations["waitline/source"] === `observability/prometheus/rules/${file}`);
    assert.deepEqual(rule.spec.groups, parse(readFileSync(join(root, "observability/prometheus/rules", file), "utf8")).groups);
  }
  const dashboards = ofKind(rendered.prod, "ConfigMap").filter((c) => c.metadata.labels.grafana_dashboard === "1");
  assert.equal(dashboards.length, dashboardFiles.length);
  for (const file of dashboardFiles) {
    const map = dashboards.find((c) => file in c.data);
    assert.equal(map.data[file], readFileSync(join(root, "observability/dashboards", file), "utf8"));
  }
  for (const platform of ["dev", "qualif"])
    assert.equal(ofKind(rendered[platform], "PrometheusRule").length + ofKind(rendered[platform], "ConfigMap").length, 1,
      `${platform} renders rules or dashboards: only production's release does`);
});

test("helm package follows the links: the packaged chart holds the rules, dashboards and redis.conf", () => {
  const out = scratchDir("chart");
  const run = helm(["package", chart, "--destination", out]);
  assert.equal(run.status, 0, run.stderr);
  const listing = execFileSync("tar", ["tzf", join(out, "waitline-0.1.0.tgz")], { encoding: "utf8" }).split("\n");
  for (const file of ruleFiles) assert.ok(listing.includes(`waitline/files/observability/prometheus/rules/${file}`), file);
  for (const file of dashboardFiles) assert.ok(listing.includes(`waitline/files/observability/dashboards/${file}`), file);
  assert.ok(listing.includes("waitline/files/redis.conf"));
  assert.ok(!listing.some((f) => f.endsWith(".py")), "packaged a generator script");
});

test("values.schema.json refuses unknown keys and a latest tag; rendering refuses an unpinned image", () => {
  for (const bad of [["--set", "bogus=1"], ["--set", "redis.storage.bogus=1"], ["--set", "queueOverrides.rubis.replicaz=2"],
    ["--set", "image.tag=latest"], ["--set", "queueDefaults.env.LEGACY_GET=true"], ["--set", "queues={Rubis}"]]) {
    const run = helm(["lint", "--strict", chart, ...valuesOf("dev"), ...fixture, ...bad]);
    assert.notEqual(run.status, 0, `accepted ${bad.join(" ")}`);
  }
  const run = helm(["template", "waitline", chart, ...valuesOf("dev"), ...fixture, "--set", "redis.exporter.image.tag="]);
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /redis\.exporter\.image: set a pinned tag or a digest/);
});

test("the validator rejects an unknown field, a latest tag, a missing limit, probe or security setting", async () => {
  const pick = () => structuredClone(named(rendered.prod, "Deployment", "waitline-rubis"));
  const container = (d) => d.spec.template.spec.containers[0];
  const cases = {
    "unknown field /spec/template/spec/containers/0/resourcez": (d) => { container(d).resourcez = {}; },
    "unknown field /spec/strategy/rollingUpdate/maxSurges": (d) => { d.spec.strategy.rollingUpdate.maxSurges = 1; },
    "must be integer": (d) => { d.spec.revisionHistoryLimit = "five"; },
    "is not pinned": (d) => { container(d).image = "registry.example/waitline:latest"; },
    "no limits.memory": (d) => { delete container(d).resources.limits.memory; },
    "no readinessProbe": (d) => { delete container(d).readinessProbe; },
    "root filesystem is not read-only": (d) => { container(d).securityContext.readOnlyRootFilesystem = false; },
    "capabilities do not drop ALL": (d) => { container(d).securityContext.capabilities.drop = []; },
    "mounts a service account token": (d) => { delete d.spec.template.spec.automountServiceAccountToken; },
  };
  assert.deepEqual([...(await schemaErrors(pick())), ...policyErrors(pick())], []);
  for (const [message, mutate] of Object.entries(cases)) {
    const deployment = pick();
    mutate(deployment);
    const errors = [...(await schemaErrors(deployment)), ...policyErrors(deployment)];
    assert.ok(errors.some((e) => e.includes(message)), `${message}: got ${JSON.stringify(errors)}`);
  }
  const route = structuredClone(ofKind(rendered.prod, "HTTPRoute")[0]);
  route.spec.rules[0].filters[0].urlRewrite.path.replacePrefixMatches = "/";
  assert.ok((await schemaErrors(route)).some((e) => e.includes("unknown field")));
});

test("cluster prerequisites: valid, restricted namespaces, both priority classes, the Gateway", async () => {
  const dir = join(root, "deploy/k8s/cluster");
  const objects = readdirSync(dir).flatMap((f) => parseManifests(readFileSync(join(dir, f), "utf8")));
  assert.deepEqual(await allErrors(objects), []);
  for (const platform of platforms) {
    const ns = named(objects, "Namespace", `waitline-${platform}`);
    assert.equal(ns.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
  }
  const classes = ofKind(objects, "PriorityClass");
  const production = classes.find((c) => c.metadata.name === "waitline-production");
  const nonprod = classes.find((c) => c.metadata.name === "waitline-nonprod");
  assert.ok(production.value > nonprod.value);
  assert.equal(nonprod.preemptionPolicy, "Never");
  assert.ok(named(objects, "Gateway", "waitline"));
  const admission = parse(readFileSync(join(root, "deploy/k8s/k3s/admission.yaml"), "utf8"));
  assert.deepEqual(admission.plugins[0].configuration.limitedResources[0].matchScopes[0].values, ["waitline-production"]);
});

// The helm test's script, run for real against the service and Redis (make test-k8s builds the
// service first; WAITLINE_BINARY names another build). Without them this test fails: it never skips.
const waitline = process.env.WAITLINE_BINARY || join(root, "build/src/waitline");
const redisServer = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).stdout.trim();
test("the helm test script lists a queue read-only against a real service, with a read-only key", async (t) => {
  assert.ok(existsSync(waitline), `${waitline} is missing: build the service first (make build)`);
  assert.ok(redisServer, "redis-server is missing: install it (make deps)");
  const dir = scratchDir("helm-test");
  const free = () => 20000 + Math.floor(Math.random() * 20000);
  const [redisPort, apiPort, adminPort] = [free(), free(), free()];
  const key = "wl_helm_test_key";
  const line = execFileSync(waitline, ["hash-key", "--name", "helm-test", "--scopes", "read", "--key", key], { encoding: "utf8" })
    .split("\n").filter((l) => l && !l.startsWith("#") && !l.startsWith("wl_")).pop();
  // The chart's own line for the key: read scope only.
  const secret = rendered.prod.find((o) => o.kind === "Secret" && o.stringData?.["rubis.keys"]);
  assert.match(secret.stringData["rubis.keys"], /^helm-test read [0-9a-f]{64}$/m);
  writeFileSync(join(dir, "keys"), `${line}\n`);
  const redis = spawn(redisServer, ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--dir", dir], { stdio: "ignore" });
  const service = spawn(waitline, ["serve", "--redis-port", String(redisPort), "--queue-name", "rubis",
    "--listen", `127.0.0.1:${apiPort}`, "--admin-listen", `127.0.0.1:${adminPort}`, "--api-keys-file", join(dir, "keys")], { stdio: "ignore" });
  t.after(() => { service.kill(); redis.kill(); });
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const script = join(chart, "files/list-tickets.sh");
  assert.doesNotMatch(readFileSync(script, "utf8"), /get_ticket|call_ticket|POST/, "the helm test must change nothing");
  const run = spawnSync("bash", [script], { encoding: "utf8",
    env: { PATH: process.env.PATH, WAITLINE_URL_HOST: "127.0.0.1", WAITLINE_URL_PORT: String(apiPort), WAITLINE_TEST_KEY: key } });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /GET \/list_tickets\?limit=1 -> 200 .*"waiting":0/);
  // The key cannot take: read scope only.
  const take = await fetch(`http://127.0.0.1:${apiPort}/get_ticket`, { method: "POST", headers: { Authorization: `Bearer ${key}` } });
  assert.equal(take.status, 403);
  const refused = spawnSync("bash", [script], { encoding: "utf8",
    env: { PATH: process.env.PATH, WAITLINE_URL_HOST: "127.0.0.1", WAITLINE_URL_PORT: String(apiPort), WAITLINE_TEST_KEY: "wl_wrong" } });
  assert.notEqual(refused.status, 0, "a wrong key passed");
});

// --- security: quotas, routes, legacy GET, limits ---------------------------------------------------
test("the quota-scope check accepts every rendered quota and refuses storage under the priority-class scope", () => {
  for (const platform of platforms)
    assert.deepEqual(ofKind(rendered[platform], "ResourceQuota").flatMap(quotaScopeErrors), [], platform);
  const prodClass = named(rendered.prod, "ResourceQuota", "waitline-production-class");
  assert.deepEqual(Object.keys(prodClass.spec.hard).sort(), ["limits.cpu", "limits.memory", "pods", "requests.cpu", "requests.memory"]);
  const budget = named(rendered.prod, "ResourceQuota", "waitline-budget");
  assert.equal(budget.spec.scopeSelector, undefined);
  assert.equal(budget.spec.hard["requests.storage"], "20Gi");
  assert.equal(budget.spec.hard.persistentvolumeclaims, "4");
  const old = parseManifests(readFileSync(join(root, "tests/k8s/fixtures/prod-quota-storage-under-priority-scope.yaml"), "utf8"));
  assert.deepEqual(old.flatMap(quotaScopeErrors).map((e) => e.split(": ")[1].split(" ")[0]).sort(),
    ["persistentvolumeclaims", "requests.storage"]);
});

test("each platform's routes bind to its own HTTPS listeners, which accept routes from its namespace only; HTTP redirects", () => {
  const gateway = parseManifests(readFileSync(join(root, "deploy/k8s/cluster/gateway.yaml"), "utf8"));
  const [gw] = ofKind(gateway, "Gateway");
  const listeners = Object.fromEntries(gw.spec.listeners.map((l) => [l.name, l]));
  const hostsOf = { dev: ["dev.waitline.example"], qualif: ["qualif.waitline.example"], prod: ["waitline.example", "prod.waitline.example"] };
  for (const platform of platforms) {
    for (const route of ofKind(rendered[platform], "HTTPRoute")) {
      const sections = route.spec.parentRefs.map((r) => r.sectionName);
      assert.ok(sections.length > 0 && sections.every((s) => s.startsWith("https-")), `${route.metadata.name}: ${sections}`);
      for (const section of sections) {
        const listener = listeners[section];
        assert.equal(listener.protocol, "HTTPS");
        assert.ok(hostsOf[platform].includes(listener.hostname), `${section} serves ${listener.hostname}`);
        assert.deepEqual(listener.allowedRoutes.namespaces,
          { from: "Selector", selector: { matchLabels: { "kubernetes.io/metadata.name": `waitline-${platform}` } } });
      }
    }
  }
  assert.equal(listeners.http.protocol, "HTTP");
  assert.deepEqual(listeners.http.allowedRoutes.namespaces, { from: "Same" });
  const [redirect] = ofKind(gateway, "HTTPRoute");
  assert.equal(redirect.metadata.namespace, "kube-system");
  assert.deepEqual(redirect.spec.parentRefs[0].sectionName, "http");
  assert.deepEqual(redirect.spec.rules[0].filters[0].requestRedirect, { scheme: "https", statusCode: 301 });
});

test("each platform's queues, their labels, environment and resources, and Redis's are deploy/platforms.conf's", () => {
  assert.ok(Object.keys(described.labels).length > 0, "deploy/platforms.conf labels a queue");
  const cpu = (cores) => `${Math.round(Number(cores) * 1000)}m`;
  for (const platform of platforms) {
    const settings = described.settings[platform];
    const deployments = ofKind(rendered[platform], "Deployment").filter((d) => d.metadata.labels["waitline/queue"]);
    assert.deepEqual(deployments.map((d) => d.metadata.labels["waitline/queue"]).sort(), [...queues].sort(), platform);
    const service = Object.fromEntries(Object.entries(settings).filter(([k]) => k.startsWith("WAITLINE_")));
    assert.ok(Object.keys(service).length > 0, platform);
    for (const d of deployments) {
      const [container] = d.spec.template.spec.containers;
      const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
      for (const [name, value] of Object.entries(service)) assert.equal(env[name], value, `${platform} ${d.metadata.name} ${name}`);
      // A queue's label, where the file gives one; else none (the service names it).
      assert.equal(env.WAITLINE_QUEUE_LABEL, described.labels[d.metadata.labels["waitline/queue"]], d.metadata.name);
      assert.deepEqual(container.resources, {
        requests: { cpu: cpu(settings.QUEUE_RES_CPUS), memory: `${settings.QUEUE_RES_MEMORY_MB}Mi` },
        limits: { cpu: cpu(settings.QUEUE_CPUS), memory: `${settings.QUEUE_MEMORY_MB}Mi` } }, `${platform} ${d.metadata.name}`);
    }
    const redis = named(rendered[platform], "StatefulSet", "waitline-redis").spec.template.spec.containers;
    assert.deepEqual(redis.find((c) => c.name === "redis").resources.limits,
      { cpu: cpu(settings.REDIS_CPUS), memory: `${settings.REDIS_MEMORY_MB}Mi` }, platform);
    const args = JSON.stringify(redis.find((c) => c.name === "redis"));
    assert.ok(args.includes(settings.REDIS_APPENDFSYNC) && args.includes(`${settings.REDIS_MAXMEMORY_MB}mb`), `${platform}: ${args}`);
  }
});

test("production turns legacy GET off; dev and qualif keep it", () => {
  for (const platform of platforms)
    for (const d of ofKind(rendered[platform], "Deployment").filter((d) => d.metadata.labels["waitline/queue"])) {
      const env = Object.fromEntries(d.spec.template.spec.containers[0].env.map((e) => [e.name, e.value]));
      assert.equal(env.WAITLINE_LEGACY_GET, platform === "prod" ? "false" : "true", d.metadata.name);
    }
});

test("queues rate-limit per key and client, production more generously, and trust only the pod network", () => {
  const expected = { dev: "300", qualif: "300", prod: "3000" };
  for (const platform of platforms)
    for (const d of ofKind(rendered[platform], "Deployment").filter((d) => d.metadata.labels["waitline/queue"])) {
      const env = Object.fromEntries(d.spec.template.spec.containers[0].env.map((e) => [e.name, e.value]));
      assert.equal(env.WAITLINE_RATE_LIMIT_KEY, expected[platform], d.metadata.name);
      assert.equal(env.WAITLINE_RATE_LIMIT_CLIENT, expected[platform], d.metadata.name);
      assert.equal(env.WAITLINE_RATE_LIMIT_KEY_BURST, String(2 * Number(expected[platform])), d.metadata.name);
      assert.equal(env.WAITLINE_TRUSTED_PROXIES, "10.42.0.0/16", d.metadata.name);
    }
});

test("alert rules, monitors and dashboards are taken only from the monitoring namespace and the platforms' own", () => {
  const values = parse(readFileSync(join(root, "deploy/k8s/addons/kube-prometheus-stack.values.yaml"), "utf8"));
  const monitored = ["monitoring", "waitline-dev", "waitline-prod", "waitline-qualif"];
  const trusted = ["monitoring", "waitline-prod"];   // the release that renders rules and dashboards
  const spec = values.prometheus.prometheusSpec;
  for (const [selector, allowed] of [["ruleNamespaceSelector", trusted], ["podMonitorNamespaceSelector", monitored],
    ["serviceMonitorNamespaceSelector", monitored]]) {
    const [expression] = spec[selector].matchExpressions;
    assert.equal(expression.key, "kubernetes.io/metadata.name", selector);
    assert.equal(expression.operator, "In", selector);
    assert.deepEqual([...expression.values].sort(), allowed, selector);
  }
  assert.deepEqual(values.grafana.sidecar.dashboards.searchNamespace.split(",").sort(), trusted);
  for (const platform of ["dev", "qualif"])
    assert.equal(ofKind(rendered[platform], "PrometheusRule").length, 0, platform);
  assert.equal(values.grafana.admin.existingSecret, "waitline-grafana-admin");
});
