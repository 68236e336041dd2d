/**
 * A second local user for tests of state another user could change: created once with
 * useradd (needs root; no home, no login shell). Undefined with the reason when it
 * cannot be had.
 */
const NAME = "provctl-test-other";

let cached: { uid: number; gid: number } | string | undefined;

export function otherUser(): { uid: number; gid: number } | string {
  if (cached !== undefined) return cached;
  if (Deno.build.os !== "linux") return (cached = "needs Linux");
  if (Deno.uid() !== 0) return (cached = "needs root (useradd, chown)");
  const id = (flag: string) =>
    new Deno.Command("id", { args: [flag, NAME], stdout: "piped", stderr: "null" }).outputSync();
  if (!id("-u").success) {
    const made = new Deno.Command("useradd", {
      args: ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", NAME],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    // A concurrent test run may have created it meanwhile.
    if (!made.success && !id("-u").success) {
      return (cached = `useradd failed: ${new TextDecoder().decode(made.stderr).trim()}`);
    }
  }
  const text = (r: Deno.CommandOutput) => Number(new TextDecoder().decode(r.stdout).trim());
  return (cached = { uid: text(id("-u")), gid: text(id("-g")) });
}
