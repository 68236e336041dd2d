/** A PID-file backend keeping all its state in `dir`, with short test timings. */
import { PidfileBackend, type PidfileBackendOptions } from "../../src/backends/pidfile.ts";
import type { CommandRunner } from "../../src/exec/runner.ts";

export function testPidfileBackend(
  runner: CommandRunner,
  dir: string,
  extra: Partial<PidfileBackendOptions> = {},
): PidfileBackend {
  return new PidfileBackend({
    runner,
    paths: {
      stateDir: dir,
      pidFile: (n) => `${dir}/run/${n}.pid`,
      logFile: (n) => `${dir}/logs/${n}.log`,
    },
    startGraceMs: 300,
    lockMs: 5000,
    commandTimeoutMs: 10_000,
    ...extra,
  });
}

/**
 * The POSIX shells the PID-file scripts must work with (Debian's dash, busybox sh, bash),
 * each as an interpreter path, or the reason it is not installed here. busybox runs as
 * `sh` through a symlink named sh, as on a busybox system.
 */
export function testShells(): { name: string; path?: string; missing?: string }[] {
  const find = (program: string) => {
    for (const dir of ["/usr/bin", "/bin", "/usr/local/bin"]) {
      try {
        if (Deno.statSync(`${dir}/${program}`).isFile) return `${dir}/${program}`;
      } catch { /* not there */ }
    }
    return undefined;
  };
  const shells = [];
  for (const name of ["dash", "bash"]) {
    const path = find(name);
    shells.push(path ? { name, path } : { name, missing: `${name} is not installed` });
  }
  const busybox = find("busybox");
  if (busybox) {
    const dir = Deno.makeTempDirSync({ prefix: "provctl-busybox-" });
    Deno.symlinkSync(busybox, `${dir}/sh`);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* gone */ }
    });
    shells.push({ name: "busybox sh", path: `${dir}/sh` });
  } else {
    shells.push({
      name: "busybox sh",
      missing: "busybox is not installed (apt-get install busybox)",
    });
  }
  return shells;
}
