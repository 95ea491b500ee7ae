// The one exit path of every program: `main()` resolves to an exit code; a thrown error becomes
// one clear line on stderr. Which errors get a stack is decided here, once:
//   FatalError   the program already explained it: "FAILED: <message>", its exit code;
//   UsageError   a mistake on the command line: "<program>: <message>" + "try --help", exit 2;
//   Answered     --help or --version was printed: exit 0;
//   errno        the system reported it (ENXIO, EACCES, ...): "FAILED: <what>: <ERRNO> (check: ...)", exit 1;
//   anything else is our own bug: "FAILED: <message>" with its stack, exit 1.
import { basename, dirname } from "node:path";
import { Answered, UsageError } from "./cli";
import { systemErrorLine } from "./errors";
import { logError } from "./log";

/** An error whose message already says everything the user needs: printed without a stack. */
export class FatalError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = "FatalError";
  }
}

/** The program's name for usage lines: dist/<program>/main.js -> <program>. */
function programName(): string {
  const script = process.argv[1] ?? "program";
  return basename(script) === "main.js" ? basename(dirname(script)) : basename(script).replace(/\.js$/, "");
}

/** The exit code for `error`, after printing what the user needs to read about it. */
export function reportFailure(error: unknown): number {
  if (error instanceof Answered) return 0;
  if (error instanceof UsageError) {
    process.stderr.write(`${programName()}: ${error.message}\ntry --help\n`);
    return 2;
  }
  if (error instanceof FatalError) {
    logError(`FAILED: ${error.message}`);
    return error.exitCode;
  }
  const line = systemErrorLine(error);
  if (line !== null) {
    logError(`FAILED: ${line}`);
    return 1;
  }
  logError(`FAILED: ${error instanceof Error ? error.message : String(error)}`, error);
  return 1;
}

export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => process.exit(reportFailure(error)),
  );
}
