#!/usr/bin/env node
// Validates waitline's OpenAPI document, then checks that it describes the API we serve.
//
//   node tests/integration/validate_openapi.mjs src/docs/openapi.json
//   node tests/integration/validate_openapi.mjs --no-legacy-get --no-auth served-openapi.json
//
// First @apidevtools/swagger-parser validates the file against the OpenAPI 3.0 schema (and every
// $ref); then each of waitline's promises is checked on its own line: the endpoints, their
// scopes and errors, the `limit` bounds, the schemas, the security. The flags name the settings
// of the service that served the document (--legacy-get=false, --insecure-no-auth, no rate limit,
// --max-queue-length=0): what they switch off must be absent, the rest present. Exits 0 when
// every check passes, 1 when any fails, 2 on a usage error. Needs `npm ci` at the repository root; works from
// any working directory (modules resolve from this file's location).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);

const switches = ["--no-legacy-get", "--no-auth", "--no-rate-limits", "--no-max-queue-length"];
const argv = process.argv.slice(2);
const given = argv.slice(0, -1);
if (argv.length < 1 || argv.at(-1).startsWith("--") || !given.every((flag) => switches.includes(flag))) {
  console.error(`usage: node validate_openapi.mjs [${switches.join("] [")}] <openapi.json>`);
  process.exit(2);
}
const file = path.resolve(argv.at(-1));
const legacyGet = !given.includes("--no-legacy-get");
const auth = !given.includes("--no-auth");
const rateLimits = !given.includes("--no-rate-limits");
const maxQueueLength = !given.includes("--no-max-queue-length");

let SwaggerParser;
try {
  SwaggerParser = require("@apidevtools/swagger-parser");
} catch (error) {
  console.error(`cannot load @apidevtools/swagger-parser (${error.code ?? error.message}): ` +
                "run `npm ci` at the repository root first");
  process.exit(2);
}

let passed = 0;
let failed = 0;
function check(name, ok, detail = "") {
  if (ok) {
    passed += 1;
    console.log(`ok   ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ""}`);
  }
  return ok;
}
function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  if (failed > 0) console.error(`${file}: ${failed} check(s) failed, see FAIL lines above`);
  process.exit(failed > 0 ? 1 : 0);
}

// 1. The validator proper. It dereferences its argument, so it gets its own copy.
let raw;
try {
  raw = JSON.parse(readFileSync(file, "utf8"));
} catch (error) {
  check(`${file} is readable JSON`, false, error.message);
  finish();
}
try {
  await SwaggerParser.validate(structuredClone(raw));
  check("swagger-parser: valid OpenAPI document, every $ref resolves", true);
} catch (error) {
  check("swagger-parser: valid OpenAPI document, every $ref resolves", false, error.message);
  finish();  // the checks below assume a well-formed document
}

// 2. waitline's own checks, on the raw document (to see the $refs) with a local resolver.
function resolve(node) {
  const seen = new Set();
  while (node && typeof node === "object" && typeof node.$ref === "string") {
    if (!node.$ref.startsWith("#/") || seen.has(node.$ref)) return undefined;
    seen.add(node.$ref);
    node = node.$ref.slice(2).split("/")
      .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"))
      .reduce((at, part) => (at === undefined ? undefined : at[part]), raw);
  }
  return node;
}
const has = (object, key) => object != null && Object.prototype.hasOwnProperty.call(object, key);
const json = (value) => JSON.stringify(value);

check("openapi is 3.0.3", raw.openapi === "3.0.3", `got ${json(raw.openapi)}`);
check("info.version is 0.1.0", raw.info?.version === "0.1.0", `got ${json(raw.info?.version)}`);
check("servers is [{url: \".\"}] (relative, works under a path prefix)",
      raw.servers?.length === 1 && raw.servers[0].url === ".", `got ${json(raw.servers)}`);
check("info.description says the admin endpoints are not part of this API",
      ["/livez", "/readyz", "/metrics"].every((p) => raw.info?.description?.includes(p)));

// Security: keys and session cookies, or (--no-auth) no requirement anywhere.
const schemes = raw.components?.securitySchemes ?? {};
const globalSecurity = raw.security ?? [];
const operations = Object.entries(raw.paths ?? {}).flatMap(([route, item]) =>
  ["get", "put", "post", "delete", "options", "head", "patch", "trace"].filter((m) => has(item, m))
    .map((m) => [`${m.toUpperCase()} ${route}`, item[m]]));
const answering = (status) => operations.filter(([, op]) => has(op.responses, status)).map(([name]) => name);
if (!auth) {
  check("without keys: no security scheme, no security requirement",
        Object.keys(schemes).length === 0 && globalSecurity.length === 0 &&
        operations.every(([, op]) => (op.security ?? []).length === 0),
        `securitySchemes: ${json(Object.keys(schemes))}, security: ${json(raw.security)}`);
  for (const status of ["401", "403"]) {
    check(`without keys: no operation answers ${status}`, answering(status).length === 0, answering(status).join(", "));
  }
}

const bearerNames = Object.keys(schemes)
  .filter((name) => schemes[name].type === "http" && schemes[name].scheme?.toLowerCase() === "bearer");
const cookieNames = Object.keys(schemes)
  .filter((name) => schemes[name].type === "apiKey" && schemes[name].in === "cookie");
if (auth) {
  check("a bearer security scheme (type http, scheme bearer) exists", bearerNames.length > 0,
        `securitySchemes: ${json(Object.keys(schemes))}`);
  check("a session cookie scheme (type apiKey, in cookie, waitline_session) exists",
        cookieNames.length === 1 && schemes[cookieNames[0]].name === "waitline_session");
  check("globally, a bearer key or the session cookie is required (one of them)",
        globalSecurity.length === 2 &&
        globalSecurity.every((req) => Object.keys(req).length === 1) &&
        globalSecurity.some((req) => bearerNames.includes(Object.keys(req)[0])) &&
        globalSecurity.some((req) => cookieNames.includes(Object.keys(req)[0])),
        `security: ${json(raw.security)}`);
}

// Limits: 429 and the RateLimit fields only with a rate limit, 409 only with a maximum length.
const rateLimitFields = JSON.stringify(raw).match(/"RateLimit(-Policy)?"/g) ?? [];
if (rateLimits) {
  check("with rate limits: every operation lists 429", answering("429").length === operations.length,
        `not ${operations.map(([name]) => name).filter((name) => !answering("429").includes(name)).join(", ")}`);
} else {
  check("without rate limits: no operation answers 429", answering("429").length === 0, answering("429").join(", "));
  check("without rate limits: no RateLimit field", rateLimitFields.length === 0, `${rateLimitFields.length} found`);
}
if (maxQueueLength) {
  check("with a maximum queue length: POST /get_ticket lists 409", has(raw.paths?.["/get_ticket"]?.post?.responses, "409"));
} else {
  check("without a maximum queue length: no operation answers 409", answering("409").length === 0,
        answering("409").join(", "));
}

// Endpoints: method, path, the scope it needs (null: public; "": any valid key), its success.
const legacy = [["get", "/get_ticket", "take"], ["get", "/call_ticket", "call"]];
const expected = [
  ["post", "/get_ticket", "take"], ["post", "/call_ticket", "call"], ...(legacyGet ? legacy : []),
  ["post", "/recall", "call"],
  ["get", "/list_tickets", "read"],
  ["get", "/last_called", "read"],
  ["get", "/events", "read", "200 text/event-stream"],
  ["get", "/tickets/{n}", null, "200 application/json"], ["get", "/tickets/{n}/events", null, "200 text/event-stream"],
  ["post", "/session", "", "204"], ["get", "/session", ""], ["delete", "/session", null, "204"],
  ["get", "/docs", null, "documents"], ["get", "/openapi.json", null, "documents"],
];
const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
for (const [method, route] of expected) {
  check(`${method.toUpperCase()} ${route} exists`, has(raw.paths?.[route], method));
}
for (const route of Object.keys(raw.paths ?? {})) {
  for (const method of methods.filter((m) => has(raw.paths[route], m))) {
    check(`${method.toUpperCase()} ${route} is one of ours`,
          expected.some(([m, r]) => m === method && r === route), "undocumented in waitline");
  }
}

const errorSchemaRef = "#/components/schemas/Error";
for (const [method, route, scope, success = "200 application/json"] of expected) {
  const op = raw.paths?.[route]?.[method];
  if (!op) continue;
  const name = `${method.toUpperCase()} ${route}`;
  const responses = op.responses ?? {};
  const security = op.security ?? globalSecurity;
  const [status, media] = success.split(" ");
  if (success === "documents") {
    // A page and this document: their own media types, checked by the tests that load them.
  } else if (media) {
    const ok = resolve(responses[status]);
    const schema = ok?.content?.[media]?.schema;
    check(`${name} answers ${status} ${media} with a schema $ref`,
          typeof schema?.$ref === "string" && schema.$ref.startsWith("#/components/schemas/"),
          `${status}: ${json(ok)}`);
  } else {
    check(`${name} answers ${status} without a body`, has(responses, status) && !has(resolve(responses[status]), "content"));
  }

  if (!auth) {
    check(`${name} needs no key`, (op.security ?? []).length === 0 && !has(op, "x-required-scope"));
    const missing = ["500", "503"].filter((code) => scope !== null && scope !== "" && !has(responses, code));
    check(`${name} lists 500, 503`, missing.length === 0, `missing ${missing.join(", ")}`);
  } else if (scope === null) {
    check(`${name} needs no key (security: [])`, Array.isArray(op.security) && op.security.length === 0,
          `security: ${json(op.security)}`);
  } else if (scope === "") {
    check(`${name} is authenticated, with no particular scope`, security.length > 0 && !has(op, "x-required-scope"));
    check(`${name} lists 401`, has(responses, "401"));
  } else {
    check(`${name} is authenticated`, security.length > 0);
    check(`${name} requires scope ${scope} (x-required-scope and description)`,
          op["x-required-scope"] === scope && new RegExp(`\\b${scope}\\b`).test(op.description ?? ""),
          `x-required-scope: ${json(op["x-required-scope"])}`);
    const missing = ["401", "403", "500", "503"].filter((code) => !has(responses, code));
    check(`${name} lists 401, 403, 500, 503`, missing.length === 0, `missing ${missing.join(", ")}`);
  }
  if (method === "get" && has(raw.paths[route], "post") && route !== "/session") {
    check(`${name} is deprecated and lists 405`, op.deprecated === true && has(responses, "405"));
  }
  const withoutRequestId = Object.keys(responses)
    .filter((status) => !has(resolve(responses[status])?.headers, "X-Request-Id"));
  check(`${name}: every response documents the X-Request-Id header`, withoutRequestId.length === 0,
        `not on ${withoutRequestId.join(", ")}`);
  const badErrors = Object.keys(responses).filter((status) => /^[45]/.test(status)).filter((status) =>
    !responses[status].$ref?.startsWith("#/components/responses/") ||
    resolve(responses[status])?.content?.["application/json"]?.schema?.$ref !== errorSchemaRef);
  check(`${name}: every error is a components/responses $ref with the Error schema`,
        badErrors.length === 0, `not ${badErrors.join(", ")}`);
}

// Error responses: the headers each needs.
const responseFor = (status, method = "post") => resolve(raw.paths?.["/get_ticket"]?.[method]?.responses?.[status]);
if (auth) check("401 documents WWW-Authenticate", has(responseFor("401")?.headers, "WWW-Authenticate"));
if (legacyGet) check("405 documents Allow", has(responseFor("405", "get")?.headers, "Allow"));
const retryAfter = resolve(responseFor("503")?.headers?.["Retry-After"]);
check("503 documents Retry-After as integer seconds", resolve(retryAfter?.schema)?.type === "integer");

// The limit parameter.
const params = (raw.paths?.["/list_tickets"]?.get?.parameters ?? []).map(resolve);
const limit = params.find((p) => p?.name === "limit" && p?.in === "query");
const limitSchema = resolve(limit?.schema);
check("GET /list_tickets has a limit query parameter, integer 0..1000, default 100",
      limit !== undefined && limitSchema?.type === "integer" && limitSchema.minimum === 0 &&
      limitSchema.maximum === 1000 && limitSchema.default === 100 && limit.required !== true,
      `limit: ${json(limit)}`);
check("GET /list_tickets lists 400 for an invalid limit",
      has(raw.paths?.["/list_tickets"]?.get?.responses, "400"));

// Schemas: strict objects, and every example valid against its schema.
function errorsOf(value, schema, at = "$") {
  schema = resolve(schema);
  if (schema === undefined) return [`${at}: unresolvable schema`];
  if (value === null) return schema.nullable ? [] : [`${at}: null but not nullable`];
  const errors = [];
  switch (schema.type) {
    case "object":
      if (typeof value !== "object" || Array.isArray(value)) return [`${at}: not an object`];
      for (const key of schema.required ?? []) if (!has(value, key)) errors.push(`${at}.${key}: missing`);
      for (const [key, item] of Object.entries(value)) {
        if (has(schema.properties, key)) errors.push(...errorsOf(item, schema.properties[key], `${at}.${key}`));
        else if (schema.additionalProperties === false) errors.push(`${at}.${key}: not allowed`);
      }
      break;
    case "array":
      if (!Array.isArray(value)) return [`${at}: not an array`];
      if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${at}: too many items`);
      value.forEach((item, i) => errors.push(...errorsOf(item, schema.items, `${at}[${i}]`)));
      break;
    case "integer":
      if (!Number.isInteger(value)) return [`${at}: not an integer`];
      if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: below minimum`);
      if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: above maximum`);
      break;
    case "string":
      if (typeof value !== "string") return [`${at}: not a string`];
      break;
    default:
      break;
  }
  return errors;
}
function strictObjects(schema, at) {
  schema = resolve(schema);
  if (schema?.type !== "object") return [];
  const problems = [];
  if (schema.additionalProperties !== false) problems.push(`${at}: additionalProperties is not false`);
  const required = schema.required ?? [];
  for (const key of Object.keys(schema.properties ?? {})) {
    if (!required.includes(key)) problems.push(`${at}.${key}: not required`);
    problems.push(...strictObjects(schema.properties[key], `${at}.${key}`));
  }
  return problems;
}
const schemas = raw.components?.schemas ?? {};
for (const name of ["Ticket", "Call", "TicketList", "TicketStatus", "LastCalled", "Session", "Error"]) {
  if (!check(`schema ${name} exists`, has(schemas, name))) continue;
  const problems = strictObjects(schemas[name], name);
  check(`schema ${name}: every property required, additionalProperties false`, problems.length === 0,
        problems.join("; "));
  check(`schema ${name} has a valid example`,
        has(schemas[name], "example") && errorsOf(schemas[name].example, schemas[name]).length === 0,
        errorsOf(schemas[name].example, schemas[name]).join("; ") || "no example");
}
check("Call.ticket is nullable (calling an empty queue)", schemas.Call?.properties?.ticket?.nullable === true);
check("POST /call_ticket and /recall take a counter (query, 1-32 characters)",
      ["/call_ticket", "/recall"].every((route) => (raw.paths?.[route]?.post?.parameters ?? []).map(resolve)
        .some((p) => p?.name === "counter" && p?.in === "query" && resolve(p.schema)?.pattern === "^[A-Za-z0-9_.-]{1,32}$")));
check("the event streams document Last-Event-ID (header) and last_event_id (query)",
      ["Last-Event-ID:header", "last_event_id:query"].every((both) => {
        const [n, where] = both.split(":");
        return (raw.paths?.["/events"]?.get?.parameters ?? []).map(resolve).some((p) => p?.name === n && p?.in === where);
      }));

for (const [name, response] of Object.entries(raw.components?.responses ?? {})) {
  const media = response.content?.["application/json"];
  for (const [exampleName, example] of Object.entries(media?.examples ?? {})) {
    const errors = errorsOf(resolve(example)?.value, media.schema);
    check(`response ${name}, example ${exampleName} matches its schema`, errors.length === 0, errors.join("; "));
  }
}

finish();
