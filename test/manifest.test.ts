// The manifest loaders: both services.json forms, args.json, and one clear message per mistake.
import { readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadArgs, loadServices, parseArgs, parseServices } from "../shared/manifest";
import { REPO } from "./support/bundles";

describe("services.json", () => {
  it("accepts the #spec object form and the legacy bare array", () => {
    const entry = { name: "raw", type: "unix", socket: "/run/example/raw.sock" };
    expect(parseServices(JSON.stringify({ "#spec": "service-manifest-xconnect@1", services: [entry] }), "s.json")).toEqual([entry]);
    expect(parseServices(JSON.stringify([entry]), "s.json")).toEqual([entry]);
  });

  it.each([
    ["{", /s\.json: invalid JSON/],
    ['{"services": []}', /s\.json: #spec: must be "service-manifest-xconnect@1"/],
    ['[{"type": "unix", "socket": "/a"}]', /s\.json: services\[0\]\.name: missing/],
    ['[{"name": "a", "type": "tcp", "socket": "/a"}]', /s\.json: services\[0\]\.type: unknown type "tcp"/],
    ['[{"name": "a", "type": "unix", "socket": "run/a"}]', /s\.json: services\[0\]\.socket: must be an absolute path/],
    ['[{"name": "a", "type": "unix", "socket": "/a"}, {"name": "a", "type": "rest", "socket": "/b"}]', /services\[1\]\.name: duplicate service "a"/],
    ['"raw"', /s\.json: must be an object with #spec and services, or an array/],
  ])("rejects %s naming the file and the field", (text, message) => {
    expect(() => parseServices(text, "s.json")).toThrow(message);
  });
});

describe("args.json", () => {
  it("reads required and optional services with their optional fields", () => {
    const args = parseArgs(
      JSON.stringify({
        PV_SERVICES_REQUIRED: [{ name: "system-bus", type: "dbus", role: "root", interface: "org.pantavisor.Example", target: "/run/dbus/system_bus_socket" }],
        PV_SERVICES_OPTIONAL: [{ name: "raw" }],
        PV_RESTART_POLICY: "container",
      }),
      "a.json",
    );
    expect(args.required).toEqual([{ name: "system-bus", type: "dbus", role: "root", interface: "org.pantavisor.Example", target: "/run/dbus/system_bus_socket" }]);
    expect(args.optional).toEqual([{ name: "raw" }]);
    expect(args.all.PV_RESTART_POLICY).toBe("container");
  });

  it.each([
    ["[]", /a\.json: must be a JSON object/],
    ['{"PV_SERVICES_REQUIRED": {}}', /a\.json: PV_SERVICES_REQUIRED: must be an array/],
    ['{"PV_SERVICES_REQUIRED": [{"target": "/x"}]}', /PV_SERVICES_REQUIRED\[0\]\.name: missing/],
    ['{"PV_SERVICES_REQUIRED": [{"name": "a", "target": "x"}]}', /PV_SERVICES_REQUIRED\[0\]\.target: must be an absolute path/],
    ['{"PV_SERVICES_REQUIRED": [{"name": "a", "role": 0}]}', /PV_SERVICES_REQUIRED\[0\]\.role: must be a non-empty string/],
    ['{"PV_SERVICES_REQUIRED": [{"name": "a", "target": "/x"}, {"name": "b", "target": "/x"}]}', /PV_SERVICES_REQUIRED\[1\]\.target: duplicate target "\/x"/],
  ])("rejects %s naming the file and the field", (text, message) => {
    expect(() => parseArgs(text, "a.json")).toThrow(message);
  });

  it("names a missing file", () => {
    expect(() => loadArgs("/nonexistent/args.json")).toThrow("/nonexistent/args.json: cannot read (ENOENT)");
  });
});

it("every manifest in containers/ is valid", () => {
  const dirs = readdirSync(join(REPO, "containers"));
  let checked = 0;
  for (const dir of dirs) {
    const services = join(REPO, "containers", dir, "services.json");
    const args = join(REPO, "containers", dir, "args.json");
    if (existsSync(services)) {
      expect(loadServices(services).length, services).toBeGreaterThan(0);
      checked++;
    }
    if (existsSync(args)) {
      expect(() => loadArgs(args), args).not.toThrow();
      checked++;
    }
  }
  expect(checked).toBeGreaterThanOrEqual(4);
});
