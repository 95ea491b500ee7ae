// Typed loaders for the two manifests of the mesh. A provider's services.json declares what it
// exports; a consumer's args.json asks for services in PV_SERVICES_REQUIRED / _OPTIONAL.
// Malformed files are rejected with one message naming the file and the field, because on a
// device a bad manifest fails the whole revision and the user has to find the typo.
import { readFileSync } from "node:fs";

export const SERVICE_TYPES = ["unix", "rest", "dbus", "drm", "wayland"] as const;
export type ServiceType = (typeof SERVICE_TYPES)[number];
export const SERVICES_SPEC = "service-manifest-xconnect@1";

/** One entry of a provider's services.json. `socket` is a path inside the provider's rootfs. */
export interface ServiceExport {
  name: string;
  type: ServiceType;
  socket: string;
}

/** One entry of a consumer's PV_SERVICES_REQUIRED / PV_SERVICES_OPTIONAL. */
export interface ServiceRequirement {
  name: string;
  type?: ServiceType;
  role?: string;
  interface?: string;
  /** Where the socket or device node appears inside the consumer; absent means "not injected". */
  target?: string;
}

export interface ContainerArgs {
  required: ServiceRequirement[];
  optional: ServiceRequirement[];
  /** Every key of args.json, for the ones the mesh does not interpret (PV_RESTART_POLICY, ...). */
  all: Record<string, unknown>;
}

export class ManifestError extends Error {
  constructor(file: string, field: string, problem: string) {
    super(`${file}: ${field ? `${field}: ` : ""}${problem}`);
    this.name = "ManifestError";
  }
}

type Json = Record<string, unknown>;

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ManifestError(file, "", `invalid JSON (${(error as Error).message})`);
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function string(entry: Json, key: string, file: string, field: string, required: boolean): string | undefined {
  const value = entry[key];
  if (value === undefined && !required) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new ManifestError(file, `${field}.${key}`, value === undefined ? "missing" : "must be a non-empty string");
  }
  return value;
}

function serviceType(entry: Json, file: string, field: string, required: boolean): ServiceType | undefined {
  const type = string(entry, "type", file, field, required);
  if (type !== undefined && !(SERVICE_TYPES as readonly string[]).includes(type)) {
    throw new ManifestError(file, `${field}.type`, `unknown type "${type}" (one of ${SERVICE_TYPES.join(", ")})`);
  }
  return type as ServiceType | undefined;
}

function absolutePath(entry: Json, key: string, file: string, field: string, required: boolean): string | undefined {
  const path = string(entry, key, file, field, required);
  if (path !== undefined && !path.startsWith("/")) {
    throw new ManifestError(file, `${field}.${key}`, `must be an absolute path, got "${path}"`);
  }
  return path;
}

/** Parses services.json: `{"#spec": "service-manifest-xconnect@1", "services": [...]}` or a bare array. */
export function parseServices(text: string, file: string): ServiceExport[] {
  const document = parseJson(text, file);
  let list: unknown = document;
  if (isObject(document)) {
    if (document["#spec"] !== SERVICES_SPEC) {
      throw new ManifestError(file, "#spec", `must be "${SERVICES_SPEC}", got ${JSON.stringify(document["#spec"])}`);
    }
    list = document.services;
    if (!Array.isArray(list)) throw new ManifestError(file, "services", "must be an array");
  } else if (!Array.isArray(document)) {
    throw new ManifestError(file, "", "must be an object with #spec and services, or an array");
  }
  const seen = new Set<string>();
  return (list as unknown[]).map((entry, index) => {
    const field = `services[${index}]`;
    if (!isObject(entry)) throw new ManifestError(file, field, "must be an object");
    const service: ServiceExport = {
      name: string(entry, "name", file, field, true)!,
      type: serviceType(entry, file, field, true)!,
      socket: absolutePath(entry, "socket", file, field, true)!,
    };
    if (seen.has(service.name)) throw new ManifestError(file, `${field}.name`, `duplicate service "${service.name}"`);
    seen.add(service.name);
    return service;
  });
}

function parseRequirements(args: Json, key: string, file: string, targets: Set<string>): ServiceRequirement[] {
  const list = args[key];
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new ManifestError(file, key, "must be an array");
  return list.map((entry: unknown, index) => {
    const field = `${key}[${index}]`;
    if (!isObject(entry)) throw new ManifestError(file, field, "must be an object");
    const requirement: ServiceRequirement = { name: string(entry, "name", file, field, true)! };
    const type = serviceType(entry, file, field, false);
    const role = string(entry, "role", file, field, false);
    const iface = string(entry, "interface", file, field, false);
    const target = absolutePath(entry, "target", file, field, false);
    if (type !== undefined) requirement.type = type;
    if (role !== undefined) requirement.role = role;
    if (iface !== undefined) requirement.interface = iface;
    if (target !== undefined) {
      if (targets.has(target)) throw new ManifestError(file, `${field}.target`, `duplicate target "${target}"`);
      targets.add(target);
      requirement.target = target;
    }
    return requirement;
  });
}

/** Parses args.json (an object; PV_SERVICES_REQUIRED and PV_SERVICES_OPTIONAL are optional arrays). */
export function parseArgs(text: string, file: string): ContainerArgs {
  const document = parseJson(text, file);
  if (!isObject(document)) throw new ManifestError(file, "", "must be a JSON object");
  const targets = new Set<string>();
  return {
    required: parseRequirements(document, "PV_SERVICES_REQUIRED", file, targets),
    optional: parseRequirements(document, "PV_SERVICES_OPTIONAL", file, targets),
    all: document,
  };
}

function read(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new ManifestError(file, "", `cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

export function loadServices(file: string): ServiceExport[] {
  return parseServices(read(file), file);
}

export function loadArgs(file: string): ContainerArgs {
  return parseArgs(read(file), file);
}
