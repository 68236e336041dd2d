/**
 * deno task bundle: provctl as JavaScript that runs with only the deno binary, code-split
 * into dist/provctl/ (entry main.js), the same program `deno compile` embeds; or one file
 * (`--single`). ssh2's optional native
 * addons (sshcrypto.node, cpu-features) stay external: ssh2 loads them inside a
 * try/catch and uses its pure-JS crypto when they are missing, as it does under Deno.
 */
const root = new URL("..", import.meta.url).pathname;

export const BUNDLE_ARGS = [
  "bundle",
  "--quiet",
  "--platform",
  "deno",
  "--external",
  "cpu-features",
  "--external",
  "*.node",
] as const;

// esbuild gives every bundle that holds CommonJS code (ssh2 and its dependencies) a
// `require` made at load time from node:module, which costs every invocation about 15 ms
// of start-up although only the SSH path ever calls it. It is made on first use instead.
const EAGER_REQUIRE = "import { createRequire as __deno_internal_createRequire } " +
  'from "node:module";\nvar __require = __deno_internal_createRequire(import.meta.url);';
const LAZY_REQUIRE = "var __deno_internal_require;\n" +
  "var __require = (id) => (__deno_internal_require ??= globalThis.process" +
  '.getBuiltinModule("node:module").createRequire(import.meta.url))(id);';

/** The bundle text with node:module loaded on the first require() instead of at start. */
export function deferNodeModule(text: string): string {
  if (!text.includes("__deno_internal_createRequire")) return text;
  if (!text.includes(EAGER_REQUIRE)) {
    // A newer deno/esbuild writes the helper differently: fail the build, never ship a
    // bundle that would break on its first require().
    throw new Error("bundle: esbuild's createRequire helper changed; update deferNodeModule");
  }
  return text.replace(EAGER_REQUIRE, LAZY_REQUIRE);
}

// Deno builds the module graph before running and follows every `import()` whose
// specifier is a string literal: it reads and analyses all of a chunk's lazily loaded
// commands at every start (about 12 ms for provctl's route table). A specifier that is an
// expression is only resolved when the import runs, which is what a lazy import means.
// (From source, deno.json's `"unstable": ["lazy-dynamic-imports"]` does the same.)
const LITERAL_CHUNK_IMPORT = /\bimport\("(\.\/[\w.-]+\.js)"\)/g;

/** The chunk text with its `import("./chunk.js")` made lazy: `import(String("./chunk.js"))`. */
export function lazyChunkImports(text: string): string {
  return text.replace(
    LITERAL_CHUNK_IMPORT,
    (_, specifier: string) => `import(String("${specifier}"))`,
  );
}

/**
 * V8 flags of the shipped form (`deno compile` embeds them). `--no-lazy` compiles every
 * function of a module when the module is compiled, so the V8 code cache, which Deno
 * writes right after that compile, holds them all: later runs deserialize the functions
 * a command calls instead of parsing and compiling each on its first call. docs/benchmarks.md
 * measures the bundle with and without it.
 */
export const SHIPPED_V8_FLAGS = "--v8-flags=--no-lazy";

async function deferInFile(path: string, lazyChunks: boolean): Promise<void> {
  const text = await Deno.readTextFile(path);
  const deferred = deferNodeModule(text);
  const rewritten = lazyChunks ? lazyChunkImports(deferred) : deferred;
  if (rewritten !== text) await Deno.writeTextFile(path, rewritten);
}

/** Bundles src/main.ts into `output`; throws with deno's message on failure. */
export async function bundle(output: string): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [...BUNDLE_ARGS, "-o", output, `${root}src/main.ts`],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) throw new Error(new TextDecoder().decode(result.stderr));
  await deferInFile(output, true);
}

/**
 * Bundles src/main.ts into `dir` with code splitting and returns the entry file. Modules
 * are then loaded when first imported, as a `deno compile` binary loads them (a single
 * file must load every module's node: imports at start): the benchmarks measure this.
 * Chunks are imported by computed specifiers: `deno compile` must `--include` the directory.
 */
export async function bundleSplit(
  dir: string,
  options: { lazyChunks?: boolean } = {},
): Promise<string> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [...BUNDLE_ARGS, "--code-splitting", "--outdir", dir, `${root}src/main.ts`],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) throw new Error(new TextDecoder().decode(result.stderr));
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".js")) {
      // lazyChunks: false only for the benchmark that shows what it saves.
      await deferInFile(`${dir}/${entry.name}`, options.lazyChunks ?? true);
    }
  }
  return `${dir}/main.js`;
}

if (import.meta.main) {
  // The shipped form: code-split, so each command loads only its own modules (as a
  // compiled binary does). `--single FILE` writes the one-file bundle instead.
  if (Deno.args[0] === "--single") {
    const output = Deno.args[1] ?? `${root}dist/provctl.js`;
    await Deno.mkdir(output.slice(0, output.lastIndexOf("/")) || ".", { recursive: true });
    await bundle(output);
    console.log(`wrote ${output}`);
  } else {
    const dir = Deno.args[0] ?? `${root}dist/provctl`;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    const entry = await bundleSplit(dir);
    console.log(`wrote ${entry} (run: deno run -A ${SHIPPED_V8_FLAGS} ${entry})`);
  }
}
