/**
 * deno task bundle: provctl as one JavaScript file (dist/provctl.js) that runs with only
 * the deno binary — the same program `deno compile` embeds. ssh2's optional native
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

/** Bundles src/main.ts into `output`; throws with deno's message on failure. */
export async function bundle(output: string): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [...BUNDLE_ARGS, "-o", output, `${root}src/main.ts`],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) throw new Error(new TextDecoder().decode(result.stderr));
}

/**
 * Bundles src/main.ts into `dir` with code splitting and returns the entry file. Modules
 * are then loaded when first imported, as a `deno compile` binary loads them (a single
 * file must load every module's node: imports at start): the benchmarks measure this.
 */
export async function bundleSplit(dir: string): Promise<string> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [...BUNDLE_ARGS, "--code-splitting", "--outdir", dir, `${root}src/main.ts`],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) throw new Error(new TextDecoder().decode(result.stderr));
  return `${dir}/main.js`;
}

if (import.meta.main) {
  const output = Deno.args[0] ?? `${root}dist/provctl.js`;
  await Deno.mkdir(output.slice(0, output.lastIndexOf("/")) || ".", { recursive: true });
  await bundle(output);
  console.log(`wrote ${output}`);
}
