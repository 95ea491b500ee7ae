// The command line of every program (containers, demo, bench, tools), one convention on top of
// node:util parseArgs:
//   --help     prints the usage (options with their defaults, the environment variables the
//              program reads, the device paths it uses, an example) on stdout and exits 0;
//   --version  prints the package version and exits 0;
//   a mistake  (unknown option, missing value, stray argument, a value that does not parse) is one
//              line on stderr plus "try --help", exit 2, and never a stack trace.
// A program describes its options once, here, and the usage text is made from that description.
import { parseArgs } from "node:util";

export interface OptionSpec {
  type: "string" | "boolean";
  /** What the option does, for --help (one line). */
  help: string;
  /** The value's placeholder in --help: PATH, SECONDS, N. */
  value?: string;
  /** Applied when the option is absent, and shown in --help. */
  default?: string;
  multiple?: boolean;
  short?: string;
}

export interface CommandSpec<O extends Record<string, OptionSpec>> {
  /** The program's name as the user runs it: "unix-client". */
  name: string;
  /** What it does, in one or two lines. */
  summary: string;
  options: O;
  /** Positional arguments, for the usage line ("FILE.pvrexport.tgz"); absent: none are accepted. */
  positionals?: string;
  /** Environment variables the program reads, with what each does. */
  env?: Record<string, string>;
  /** Extra paragraphs for --help: device paths, exit codes. */
  notes?: string[];
  /** Example command lines. */
  examples: string[];
}

type Value<S extends OptionSpec> = S["type"] extends "boolean"
  ? S["multiple"] extends true ? boolean[] | undefined : boolean | undefined
  : S["multiple"] extends true ? string[] | undefined : S extends { default: string } ? string : string | undefined;

export type Values<O extends Record<string, OptionSpec>> = { [K in keyof O]: Value<O[K]> };

/** A mistake on the command line: runMain prints it as one line plus "try --help" and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** --help or --version was answered: runMain exits 0 without printing anything more. */
export class Answered extends Error {
  constructor() {
    super("answered --help or --version");
    this.name = "Answered";
  }
}

// esbuild replaces this at build time with package.json's version (scripts/build.mjs: define).
declare const PV_EXAMPLES_VERSION: string | undefined;
export const VERSION = typeof PV_EXAMPLES_VERSION === "string" ? PV_EXAMPLES_VERSION : "development";

/** The --help text. */
export function usage<O extends Record<string, OptionSpec>>(spec: CommandSpec<O>): string {
  const rows: [string, string][] = Object.entries(spec.options).map(([name, option]) => {
    const flag = `${option.short ? `-${option.short}, ` : ""}--${name}${option.type === "string" ? ` ${option.value ?? "VALUE"}` : ""}`;
    const extra = [option.default !== undefined ? `default: ${option.default}` : "", option.multiple ? "may be repeated" : ""].filter(Boolean);
    return [flag, `${option.help}${extra.length > 0 ? ` (${extra.join("; ")})` : ""}`];
  });
  rows.push(["--help", "print this help and exit"], ["--version", "print the version and exit"]);
  const width = Math.max(...rows.map(([flag]) => flag.length));
  const lines = [
    `usage: ${spec.name} [OPTIONS]${spec.positionals ? ` ${spec.positionals}` : ""}`,
    "",
    spec.summary,
    "",
    "options:",
    ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
  ];
  const env = Object.entries(spec.env ?? {});
  if (env.length > 0) {
    const envWidth = Math.max(...env.map(([name]) => name.length));
    lines.push("", "environment:", ...env.map(([name, text]) => `  ${name.padEnd(envWidth)}  ${text}`));
  }
  for (const note of spec.notes ?? []) lines.push("", note);
  lines.push("", spec.examples.length > 1 ? "examples:" : "example:", ...spec.examples.map((example) => `  ${example}`));
  return lines.join("\n") + "\n";
}

/** Node's parseArgs messages, shortened to what the user needs. */
function describeMistake(error: NodeJS.ErrnoException): string {
  const option = /'([^']+)'/.exec(error.message)?.[1];
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${option ?? ""}`.trim();
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const name = option?.split(" ")[0] ?? "";
      if (/argument missing/.test(error.message)) return `option ${name} needs a value`;
      if (/ambiguous/.test(error.message)) return `option ${name}: write a value that starts with "-" as ${name}=VALUE`;
      if (/does not take an argument/.test(error.message)) return `option ${name} takes no value`;
      return error.message.split("\n")[0]!;
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${option ?? ""}`.trim();
    default:
      return error.message;
  }
}

/**
 * Parses `argv` (the process's arguments by default) against `spec`. Answers --help and --version
 * (throws Answered); throws UsageError for any mistake.
 */
export function parseCommandLine<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  argv: string[] = process.argv.slice(2),
): { values: Values<O>; positionals: string[] } {
  // Only our own arguments: what follows "--" belongs to somebody else (Weston's options).
  const own = argv.includes("--") ? argv.slice(0, argv.indexOf("--")) : argv;
  if (own.includes("--help") || own.includes("-h")) {
    process.stdout.write(usage(spec));
    throw new Answered();
  }
  if (own.includes("--version")) {
    process.stdout.write(`${spec.name} ${VERSION}\n`);
    throw new Answered();
  }
  const options = Object.fromEntries(
    Object.entries(spec.options).map(([name, option]) => [
      name,
      { type: option.type, ...(option.multiple ? { multiple: true } : {}), ...(option.short ? { short: option.short } : {}), ...(option.default !== undefined ? { default: option.default } : {}) },
    ]),
  );
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: spec.positionals !== undefined, strict: true });
    return { values: parsed.values as Values<O>, positionals: parsed.positionals };
  } catch (error) {
    throw new UsageError(describeMistake(error as NodeJS.ErrnoException));
  }
}

/** A positive number from an option ("--interval must be a positive number, got "x""). */
export function positiveNumber(name: string, text: string): number {
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value)) throw new UsageError(`--${name} must be a positive number, got "${text}"`);
  return value;
}

/** A positive whole number from an option. */
export function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${name} must be a positive whole number, got "${text}"`);
  return value;
}

/** A number >= 0 from an option. */
export function nonNegativeNumber(name: string, text: string): number {
  const value = Number(text);
  if (!(value >= 0) || !Number.isFinite(value) || text.trim() === "") throw new UsageError(`--${name} must be a number >= 0, got "${text}"`);
  return value;
}
