// One qemu-system-x86_64 guest for the KMS test: std VGA (the kernel's bochs DRM driver gives a
// real card0) plus a virtio-gpu (a render node), the serial console on stdio (what the guest
// prints, and a way to answer it), and the human monitor on a unix socket for `screendump`.
// Plain emulation by default: KVM is not always usable (nested virtualisation on CI machines
// can fail or hang), and a few seconds of TCG are enough. kill() is safe to call at any time, twice.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";

export interface QemuOptions {
  kernel: string;
  initramfs: string;
  workDir: string;
  memoryMb?: number;
  /** Virtual CPUs (default 1); under TCG each is a host thread. */
  cpus?: number;
  /** "tcg" (default: plain emulation, works everywhere) or "kvm" (faster, where nested KVM works). */
  accel?: "tcg" | "kvm";
}

export class Qemu {
  readonly lines: string[] = [];
  /** When each line arrived (Date.now() on the host), index for index with `lines`. */
  readonly arrivals: number[] = [];
  readonly monitorPath: string;
  private child: ChildProcess | null = null;
  private partial = "";
  private wakers = new Set<() => void>();
  private exitedFlag = false;

  constructor(private readonly options: QemuOptions) {
    this.monitorPath = join(options.workDir, "monitor.sock");
  }

  start(): void {
    const args = [
      "-nodefaults", "-no-user-config", "-no-reboot",
      "-accel", this.options.accel ?? "tcg", "-cpu", this.options.accel === "kvm" ? "host" : "max", "-smp", String(this.options.cpus ?? 1), "-m", String(this.options.memoryMb ?? 1024),
      "-device", "VGA,id=vga", // what `-vga std` creates, with an id for `screendump FILE vga`
      "-device", "virtio-gpu-pci,id=vgpu",
      "-display", "none",
      "-serial", "stdio",
      "-monitor", `unix:${this.monitorPath},server=on,wait=off`,
      "-kernel", this.options.kernel,
      "-initrd", this.options.initramfs,
      "-append", "console=ttyS0 quiet loglevel=1 panic=-1",
    ];
    const child = spawn("qemu-system-x86_64", args, { stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    const take = (chunk: Buffer): void => {
      const parts = (this.partial + chunk.toString("utf8").replace(/\r/g, "")).split("\n");
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      this.arrivals.push(...parts.map(() => Date.now()));
      this.wake();
    };
    child.stdout!.on("data", take);
    child.stderr!.on("data", (chunk: Buffer) => this.push(...chunk.toString().trim().split("\n").map((l) => `qemu: ${l}`)));
    child.on("close", () => {
      this.exitedFlag = true;
      if (this.partial) this.push(this.partial);
      this.wake();
    });
    child.on("error", (error) => {
      this.push(`qemu: cannot start: ${error.message}`);
      this.exitedFlag = true;
      this.wake();
    });
  }

  /** The first serial line matching `pattern`; rejects (with the console so far) on timeout or exit. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
    return (await this.next(pattern, timeoutMs)).line;
  }

  /** The first line matching `pattern` from line `from` on, with its index and arrival time; rejects like waitFor. */
  async next(pattern: RegExp, timeoutMs: number, from = 0): Promise<{ line: string; index: number; at: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.lines.findIndex((line, i) => i >= from && pattern.test(line));
      if (index >= 0) return { line: this.lines[index], index, at: this.arrivals[index] };
      if (this.exitedFlag || Date.now() >= deadline) {
        throw new Error(`guest: no line matching ${pattern} (${this.exitedFlag ? "qemu exited" : `${timeoutMs} ms`}); console:\n${this.lines.join("\n")}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(500, deadline - Date.now()));
        this.wakers.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Types a line on the guest's serial console. */
  send(line: string): void {
    this.child?.stdin?.write(`${line}\n`);
  }

  /** Runs one human-monitor command and resolves with its output (up to the next prompt). */
  monitor(command: string, timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      if (!existsSync(this.monitorPath)) return reject(new Error(`no monitor socket at ${this.monitorPath}`));
      const socket = connect(this.monitorPath);
      let text = "";
      let sent = false;
      const timer = setTimeout(() => finish(new Error(`monitor: "${command}" got no prompt in ${timeoutMs} ms: ${text}`)), timeoutMs);
      socket.on("data", (chunk) => {
        text += chunk.toString();
        if (!text.trimEnd().endsWith("(qemu)")) return;
        if (!sent) {
          sent = true;
          text = "";
          socket.write(`${command}\n`);
        } else finish();
      });
      socket.on("error", (error) => finish(error));
      function finish(error?: Error): void {
        clearTimeout(timer);
        socket.destroy();
        if (error) reject(error);
        else resolve(text);
      }
    });
  }

  /** Resolves when qemu has exited (the guest powered off), or kills it after `timeoutMs`. */
  async exited(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.exitedFlag && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    if (!this.exitedFlag) this.kill();
  }

  kill(): void {
    if (this.child !== null && !this.exitedFlag) this.child.kill("SIGKILL");
  }

  private push(...lines: string[]): void {
    this.lines.push(...lines);
    this.arrivals.push(...lines.map(() => Date.now()));
  }

  private wake(): void {
    const wakers = [...this.wakers];
    this.wakers.clear();
    wakers.forEach((wake) => wake());
  }
}
