/**
 * deno task compile: self-contained provctl binaries for every supported platform,
 * written to dist/. `deno compile` downloads the Deno runtime for each target
 * (from dl.deno.land); where the network blocks that, this fails with a clear message.
 */
import { bundleSplit, SHIPPED_V8_FLAGS } from "./bundle.ts";
const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

// What provctl needs at run time: spawn programs (sh, systemctl, ...), read and write its
// state and config, read the environment, open SSH and HTTP connections, read uid/hostname;
// ffi: the connection keeper closes the descriptors it inherited (libc close(), Linux).
const PERMISSIONS = [
  "--allow-run",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-net",
  "--allow-sys",
  "--allow-ffi",
];

const root = new URL("..", import.meta.url).pathname;
await Deno.mkdir(`${root}dist`, { recursive: true });
// The binaries embed the shipped form: the code-split bundle (node:module deferred).
// Its chunks are loaded by computed specifiers (lazily), so the directory is included whole.
const bundleDir = `${root}dist/.compile-bundle`;
// Emptied first: chunk names carry content hashes, and every file left from an earlier
// build would be --include'd into every binary.
await Deno.remove(bundleDir, { recursive: true }).catch(() => {});
const entry = await bundleSplit(bundleDir);
const only = Deno.args.length > 0 ? Deno.args : TARGETS;
let failed = 0;
for (const target of only) {
  const output = `${root}dist/provctl-${target}${target.includes("windows") ? ".exe" : ""}`;
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      ...PERMISSIONS,
      SHIPPED_V8_FLAGS,
      ...["--include", bundleDir, "--target", target, "--output", output, entry],
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (result.success) {
    console.log(`built ${output}`);
    continue;
  }
  failed++;
  if (/dl\.deno\.land|download|dns error|error sending request|connect/i.test(stderr)) {
    console.error(
      `cannot compile for ${target}: deno compile must download the Deno runtime for that target ` +
        `(denort from dl.deno.land) and this network does not allow it. Run \`deno task compile\` on a ` +
        `machine with internet access; the program itself is compile-ready (configs are embedded imports).`,
    );
  } else {
    // deno prints a backtrace after the error line; show the line that says what failed.
    // deno-lint-ignore no-control-regex
    const plain = stderr.replace(/\x1b\[[0-9;]*m/g, "");
    const reason = plain.split("\n").find((l) => /error/i.test(l)) ?? plain.trim().split("\n")[0];
    console.error(`cannot compile for ${target}: ${reason.trim()}`);
  }
}
Deno.exit(failed > 0 ? 1 : 0);
