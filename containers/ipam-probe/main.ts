// ipam-probe: what a container sees of the network Pantavisor's IPAM gave it.
//
// Not a mesh provider or consumer: the program of the three IPAM containers (ipam-valid,
// ipam-invalid, ipam-collision), which differ only in args.json (PV_NETWORK_POOL "internal",
// PV_NETWORK_IP 10.0.3.50 / 192.168.99.100 / 10.0.3.50). Pantavisor reserves the static IP from
// the pool device-config defines (10.0.3.0/24 on br0) before starting the container, and refuses
// to start it when the IP is outside the subnet or already taken: so if this program prints at
// all, the reservation worked, and its output shows the address and the default route it got.
// It prints the hostname, every interface with its state and addresses, the IPv4 routes
// (/proc/net/route), then stays alive until SIGTERM, so `lxc-ls -f` shows it RUNNING.
//
// Run:  node dist/ipam-probe/main.js [--expect IP]   (--expect: also say whether IP is assigned; --help)
// Stop: SIGTERM or Ctrl-C: exits 0.
//
// Simplified: IPv4 routes only (the IPAM pools are IPv4); reads /proc and /sys directly, so it
// needs no `ip` binary in the image.
import { readdirSync, readFileSync } from "node:fs";
import { hostname, networkInterfaces } from "node:os";
import { parseCommandLine } from "../../shared/cli";
import { log, reason } from "../../shared/log";
import { runMain } from "../../shared/run";
import { stopSignal, untilAborted } from "../../shared/shutdown";

const SYS_NET = "/sys/class/net";
const PROC_ROUTE = "/proc/net/route";
const RTF_GATEWAY = 0x2;

/** /proc/net/route stores IPv4 addresses as little-endian hex: "0103000A" is 10.0.3.1. */
function hexToIPv4(hex: string): string {
  const value = parseInt(hex, 16);
  return [0, 8, 16, 24].map((shift) => (value >>> shift) & 0xff).join(".");
}

function prefixLength(maskHex: string): number {
  return parseInt(maskHex, 16).toString(2).replace(/0/g, "").length;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
}

/** One line per interface: name, state, MAC and addresses (as `ip -brief addr` would show). */
export function describeInterfaces(): string[] {
  const addresses = networkInterfaces();
  let names: string[];
  try {
    names = readdirSync(SYS_NET);
  } catch (error) {
    log(`cannot list ${SYS_NET}: ${reason(error)}; showing interfaces that have addresses`);
    names = Object.keys(addresses);
  }
  return names.sort().map((name) => {
    const state = readText(`${SYS_NET}/${name}/operstate`) ?? "unknown";
    const mac = readText(`${SYS_NET}/${name}/address`) ?? "-";
    const cidrs = (addresses[name] ?? []).map((a) => a.cidr ?? a.address);
    return `${name} ${state} ${mac} ${cidrs.join(" ") || "(no address)"}`;
  });
}

/** The IPv4 routing table as `ip route` would print it. */
export function describeRoutes(table = PROC_ROUTE): string[] {
  const text = readText(table);
  if (text === null) return [`(cannot read ${table})`];
  return text
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 8)
    .map(([iface, destination, gateway, flags, , , metric, mask]) => {
      const target = destination === "00000000" && mask === "00000000" ? "default" : `${hexToIPv4(destination)}/${prefixLength(mask)}`;
      const via = parseInt(flags, 16) & RTF_GATEWAY ? ` via ${hexToIPv4(gateway)}` : "";
      return `${target}${via} dev ${iface}${metric !== "0" ? ` metric ${metric}` : ""}`;
    });
}

async function main(): Promise<number> {
  const { values } = parseCommandLine({
    name: "ipam-probe",
    summary: "The program of the IPAM containers: prints the hostname, interfaces and IPv4 routes Pantavisor's IPAM gave the container, then stays up.",
    options: { expect: { type: "string", value: "IP", help: "also say whether this address is assigned to an interface" } },
    examples: ["ipam-probe --expect 10.0.3.50"],
  });
  const stopping = stopSignal();

  log("=== IPAM probe ===");
  log(`hostname: ${hostname()}`);
  log("--- interfaces (name state mac addresses) ---");
  for (const line of describeInterfaces()) log(line);
  log("--- IPv4 routes ---");
  for (const line of describeRoutes()) log(line);
  if (values.expect !== undefined) {
    const owner = Object.entries(networkInterfaces()).find(([, list]) => list?.some((a) => a.address === values.expect));
    log(owner ? `expected address ${values.expect} is on ${owner[0]}` : `expected address ${values.expect} is NOT assigned`);
  }
  log("ipam-probe: running until stopped (SIGTERM)");

  // Nothing else is open, and a pending promise alone does not keep Node running: this timer does.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    await untilAborted(stopping);
  } finally {
    clearInterval(keepAlive);
  }
  log(`ipam-probe: ${String(stopping.reason)} received, exiting`);
  return 0;
}

if (require.main === module) runMain(main);
