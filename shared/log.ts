// Timestamped log lines: what every example prints goes through here, so the console log of a
// container on a device (and the demo's interleaved output) reads as one timeline.

// Whoever reads our output may go away first (a killed parent, a closed pipe): writing then fails
// with EPIPE, which would otherwise end the program before its teardown (a dbus-daemon or Weston
// left running). The lines are lost; the program goes on and releases what it holds.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);

function stamp(): string {
  return new Date().toISOString();
}

/** An ordinary line on stdout. */
export function log(message: string): void {
  process.stdout.write(`${stamp()} ${message}\n`);
}

/** A failure line on stderr. Pass the error to keep its stack for unexpected failures. */
export function logError(message: string, error?: unknown): void {
  const stack = error instanceof Error && error.stack ? `\n${error.stack}` : "";
  process.stderr.write(`${stamp()} ${message}${stack}\n`);
}

/** The short reason of a system error: its code when it has one (`ENOENT`), else its message. */
export function reason(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code ?? error.message;
  }
  return String(error);
}
