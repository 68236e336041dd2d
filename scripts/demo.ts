/**
 * deno task demo: provctl's main job on its embedded defaults, end to end — start a
 * real service, see it in status, read its logs, use it, stop it. Every step is a real
 * `provctl` invocation, printed before it runs.
 */
const root = new URL("..", import.meta.url).pathname;
const main = `${root}src/main.ts`;
const port = 18000 + Math.floor(Math.random() * 1000);
const hasPython =
  (await new Deno.Command("sh", { args: ["-c", "command -v python3"], stdout: "null" }).output())
    .success;
const service = [
  "provctl-demo",
  "--",
  ...(hasPython
    ? ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1"]
    : ["sh", "-c", 'while :; do echo "tick $(date)"; sleep 1; done']),
];

async function provctl(...args: string[]): Promise<number> {
  console.log(`\n$ provctl ${args.map((a) => (/[\s'"$]/.test(a) ? `'${a}'` : a)).join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", main, ...args],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return code;
}

let failures = 0;
const step = async (expect: number, ...args: string[]) => {
  const code = await provctl(...args);
  if (code !== expect) {
    failures++;
    console.log(`(exit code ${code}, expected ${expect})`);
  }
};

await step(0, "version");
await step(0, "doctor");
await step(0, "start", ...service);
await step(0, "status", "provctl-demo");
if (hasPython) {
  const response = await fetch(`http://127.0.0.1:${port}/`);
  await response.body?.cancel();
  console.log(`\n(GET http://127.0.0.1:${port}/ answered ${response.status})`);
}
await new Promise((r) => setTimeout(r, 300));
await step(0, "logs", "provctl-demo", "-n", "5");
await step(0, "status", "provctl-demo", "-o", "json");
await step(0, "stop", "provctl-demo");
await step(3, "status", "provctl-demo");
await step(0, "uninstall", "provctl-demo");
await step(2, "start", "../etc/passwd", "--", "true");
console.log(
  failures === 0
    ? "\ndemo finished: every step gave the expected exit code"
    : `\ndemo: ${failures} step(s) differed`,
);
Deno.exit(failures === 0 ? 0 : 1);
