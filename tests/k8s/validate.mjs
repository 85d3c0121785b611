// Offline validation of Kubernetes manifests: schemas (Kubernetes 1.30+, Gateway API,
// monitoring.coreos.com) and waitline's policies.
//
// Schemas come from the npm packages kubernetes-models, @kubernetes-models/gateway-api and
// @kubernetes-models/prometheus-operator: compiled validators of the OpenAPI/CRD schemas (types,
// required fields, enums, formats). Those schemas do not forbid unknown fields, and the API server
// would silently drop them (or refuse them with --validate=strict), so strictness is added here:
// each object is validated through a Proxy that records which properties the validator asks for;
// a property it never asks for, in an object whose schema names properties, is unknown. Maps
// (labels, resources) are walked key by key by the validator, which marks them as enumerated.
//
//   node tests/k8s/validate.mjs FILE.yaml...   prints each object's problems; exit 1 if any
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// apiVersion -> the module of its models.
const modules = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "policy/v1": "kubernetes-models/policy/v1",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "scheduling.k8s.io/v1": "kubernetes-models/scheduling.k8s.io/v1",
  "storage.k8s.io/v1": "kubernetes-models/storage.k8s.io/v1",
  "gateway.networking.k8s.io/v1": "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

// The objects of a multi-document YAML text; a `kind: List` stands for its items.
// Real fields that the packages' schema generator dropped (it strips properties named
// `description`): accepted as known where the API has them.
const droppedFields = { PriorityClass: ["/description"] };

export function parseManifests(text) {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length) throw new Error(`YAML: ${doc.errors[0].message}`);
      return doc.toJS({ maxAliasCount: -1 });
    })
    .filter((object) => object !== null)
    .flatMap((object) => (object.kind === "List" ? object.items : [object]));
}

function watched(value, path, seen) {
  if (value === null || typeof value !== "object") return value;
  const record = { path, value, read: new Set(), enumerated: false };
  seen.push(record);
  return new Proxy(value, {
    get(target, key) {
      if (typeof key === "string") record.read.add(key);
      return watched(target[key], `${path}/${String(key)}`, seen);
    },
    has(target, key) {
      record.read.add(key);
      return key in target;
    },
    ownKeys(target) {
      record.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

// Schema problems of one object: [] when valid.
export async function schemaErrors(object) {
  const where = `${object?.kind ?? "?"}/${object?.metadata?.name ?? "?"}`;
  const modulePath = modules[object?.apiVersion];
  if (!modulePath) return [`${where}: apiVersion ${object?.apiVersion} has no schema here`];
  const model = (await import(modulePath))[object.kind];
  if (!model) return [`${where}: no kind ${object.kind} in ${object.apiVersion}`];
  const seen = [];
  const errors = [];
  try {
    model.prototype.validate.call(watched(object, "", seen));
  } catch (error) {
    errors.push(`${where}: ${error.message}`);
  }
  for (const { path, value, read, enumerated } of seen) {
    if (Array.isArray(value) || enumerated || read.size === 0) continue;
    for (const key of Object.keys(value)) {
      if (!read.has(key) && !droppedFields[object.kind]?.includes(`${path}/${key}`)) errors.push(`${where}: unknown field ${path}/${key}`);
    }
  }
  return errors;
}

// --- Policies -------------------------------------------------------------------------------------
const workloadKinds = new Set(["Deployment", "StatefulSet", "DaemonSet", "Job", "Pod"]);

export function podSpecOf(object) {
  if (!workloadKinds.has(object.kind)) return null;
  return object.kind === "Pod" ? object.spec : object.spec?.template?.spec;
}

function imageIsPinned(image) {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const tag = image.split("/").pop().split(":")[1];
  return Boolean(tag) && tag !== "latest";
}

// Problems of one object against waitline's policies (Pod Security "restricted" and more).
export function policyErrors(object) {
  const spec = podSpecOf(object);
  if (!spec) return [];
  const where = `${object.kind}/${object.metadata?.name}`;
  const errors = [];
  const pod = spec.securityContext ?? {};
  if (pod.runAsNonRoot !== true) errors.push(`${where}: pod lacks runAsNonRoot: true`);
  if (pod.seccompProfile?.type !== "RuntimeDefault") errors.push(`${where}: pod lacks seccompProfile RuntimeDefault`);
  if (spec.automountServiceAccountToken !== false) errors.push(`${where}: mounts a service account token`);
  if (!spec.priorityClassName) errors.push(`${where}: no priorityClassName`);
  if (["hostNetwork", "hostPID", "hostIPC"].some((k) => spec[k])) errors.push(`${where}: uses a host namespace`);
  if ((spec.volumes ?? []).some((v) => v.hostPath)) errors.push(`${where}: mounts a hostPath`);
  if (object.kind !== "Pod" && !(spec.topologySpreadConstraints ?? []).length && object.kind === "Deployment")
    errors.push(`${where}: no topologySpreadConstraints`);
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    const at = `${where} container ${c.name}`;
    if (!c.image || !imageIsPinned(c.image)) errors.push(`${at}: image ${c.image} is not pinned (tag latest or none)`);
    for (const kind of ["requests", "limits"])
      for (const resource of ["cpu", "memory"])
        if (!c.resources?.[kind]?.[resource]) errors.push(`${at}: no ${kind}.${resource}`);
    // A test hook Pod runs once to completion: probes do not apply to it.
    if (object.kind !== "Pod")
      for (const probe of ["livenessProbe", "readinessProbe"]) if (!c[probe]) errors.push(`${at}: no ${probe}`);
    const sc = c.securityContext ?? {};
    if (sc.allowPrivilegeEscalation !== false) errors.push(`${at}: allowPrivilegeEscalation is not false`);
    if (sc.privileged) errors.push(`${at}: privileged`);
    if (sc.readOnlyRootFilesystem !== true) errors.push(`${at}: root filesystem is not read-only`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) errors.push(`${at}: capabilities do not drop ALL`);
    if ((sc.capabilities?.add ?? []).length) errors.push(`${at}: adds capabilities`);
    if (sc.runAsUser === 0 || pod.runAsUser === 0) errors.push(`${at}: runs as root`);
  }
  return errors;
}

// The API server's rule for quota scopes (Kubernetes' IsResourceQuotaScopeValidForResource): under
// the scopes that select pods by how they run, a quota may hold only the pod count and compute
// resources; under BestEffort only the pod count. Anything else makes the API server refuse the
// ResourceQuota (422), which the schemas cannot see.
const podCount = ["pods"];
const podCompute = ["cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"];
const scopeAllows = {
  Terminating: [...podCount, ...podCompute],
  NotTerminating: [...podCount, ...podCompute],
  NotBestEffort: [...podCount, ...podCompute],
  PriorityClass: [...podCount, ...podCompute],
  CrossNamespacePodAffinity: [...podCount, ...podCompute],
  BestEffort: podCount,
};
export function quotaScopeErrors(object) {
  if (object.kind !== "ResourceQuota") return [];
  const scopes = [...(object.spec?.scopes ?? []), ...(object.spec?.scopeSelector?.matchExpressions ?? []).map((e) => e.scopeName)];
  const errors = [];
  for (const scope of scopes)
    for (const resource of Object.keys(object.spec?.hard ?? {}))
      if (scopeAllows[scope] && !scopeAllows[scope].includes(resource))
        errors.push(`ResourceQuota/${object.metadata?.name}: ${resource} is not allowed under scope ${scope} (the API server answers 422)`);
  return errors;
}

// Every problem of a list of objects.
export async function allErrors(objects) {
  const errors = [];
  for (const object of objects) errors.push(...(await schemaErrors(object)), ...policyErrors(object), ...quotaScopeErrors(object));
  return errors;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let failed = 0;
  for (const file of process.argv.slice(2)) {
    const objects = parseManifests(readFileSync(file, "utf8"));
    const errors = await allErrors(objects);
    for (const error of errors) console.log(`${file}: ${error}`);
    console.log(`${file}: ${objects.length} objects, ${errors.length} problems`);
    failed += errors.length;
  }
  process.exit(failed ? 1 : 0);
}
