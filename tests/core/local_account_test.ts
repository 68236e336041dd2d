import assert from "node:assert/strict";

const dec = new TextDecoder();
const probe = new URL("../../src/core/local_account.ts", import.meta.url).href;

/** localAccount() in a fresh process with exactly `env`. */
async function accountWith(env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { localAccount } from "${probe}"; console.log(JSON.stringify(localAccount()));`,
    ],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(dec.decode(out.stderr));
  return JSON.parse(dec.decode(out.stdout));
}

function passwdOf(uid: number): { name: string; home: string } | undefined {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n")
    .find((l) => l.split(":")[2] === String(uid));
  if (!line) return undefined;
  const f = line.split(":");
  return { name: f[0], home: f[5] };
}

Deno.test("localAccount: the environment first, else the uid's /etc/passwd entry", async () => {
  const uid = Deno.uid()!;
  const entry = passwdOf(uid);
  const denoDir = Deno.env.get("DENO_DIR");
  const base: Record<string, string> = {
    PATH: "/usr/bin:/bin",
    ...(denoDir ? { DENO_DIR: denoDir } : {}),
  };
  assert.deepEqual(
    await accountWith({ ...base, USER: "alice", HOME: "/home/alice" }),
    { name: "alice", home: "/home/alice", uid },
  );
  assert.deepEqual(await accountWith({ ...base, LOGNAME: "bob", HOME: "/h" }), {
    name: "bob",
    home: "/h",
    uid,
  });
  // Neither USER, LOGNAME nor HOME (cron, env -i, minimal containers): /etc/passwd.
  const bare = await accountWith(base);
  assert.deepEqual(bare, {
    name: entry?.name ?? "",
    ...(entry?.home ? { home: entry.home } : {}),
    uid,
  });
});
