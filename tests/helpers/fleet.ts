/**
 * A loopback fleet for CLI tests: real sshd hosts (tests/fixtures/sshd.ts), each with its
 * own state dir (sshd SetEnv XDG_STATE_HOME) so "machines" sharing this filesystem keep
 * apart, plus a machines.toml and an ssh_config that trusts the fleet's host keys.
 */
import { type SshdFleet, startSshdFleet } from "../fixtures/sshd.ts";
import { type CliSandbox, cliSandbox, stopKeepers } from "./cli.ts";

export interface FleetSandbox {
  readonly fleet: SshdFleet;
  readonly cli: CliSandbox;
  readonly inventory: string;
  readonly sshConfig: string;
  /** provctl with --inventory and --ssh-config of this fleet. */
  run(args: string[]): ReturnType<CliSandbox["run"]>;
  stateDirOf(index: number): string;
  stop(): Promise<void>;
}

export function fleetUnavailable(): string | undefined {
  if (Deno.build.os !== "linux") return "the sshd fleet needs Linux";
  if (Deno.uid() !== 0) return "the sshd fleet needs root";
  try {
    Deno.statSync("/usr/sbin/sshd");
  } catch {
    return "sshd is not installed (apt-get install openssh-server)";
  }
  return undefined;
}

/** `labels(i)` gives machine i's labels; machines are named m1, m2, ... */
export async function fleetSandbox(
  count: number,
  labels: (i: number) => Record<string, string> = () => ({}),
  vars: (i: number) => Record<string, string> = () => ({}),
): Promise<FleetSandbox> {
  const fleet = await startSshdFleet({
    count,
    sessionEnv: (h) => ({ XDG_STATE_HOME: `${h.dir}/state` }),
  });
  const cli = await cliSandbox();
  const sshConfig = `${cli.dir}/ssh_config`;
  await Deno.writeTextFile(
    sshConfig,
    `Host *\n  UserKnownHostsFile ${fleet.knownHosts}\n  IdentitiesOnly yes\n`,
  );
  const inventory = `${cli.dir}/machines.toml`;
  const machines = fleet.hosts.map((h, i) => {
    const table = (o: Record<string, string>) =>
      Object.entries(o).map(([k, v]) => `${k} = "${v}"`).join(", ");
    return `[machines.m${i + 1}]\nhost = "${h.address}"\nport = ${h.port}\nuser = "root"\n` +
      `identity = "${fleet.clientKey}"\nlabels = { ${table(labels(i))} }\nvars = { ${
        table(vars(i))
      } }\n`;
  });
  await Deno.writeTextFile(inventory, machines.join("\n"));
  return {
    fleet,
    cli,
    inventory,
    sshConfig,
    stateDirOf: (i) => `${fleet.hosts[i].dir}/state/provctl`,
    // The local state (breakers, audit) stays in the CLI sandbox; remote pidfile state
    // follows each host's XDG_STATE_HOME, so PROVCTL_STATE_DIR must not be set here.
    run: (args) => {
      // Flags go before "--" (what follows it is the command to run).
      const dash = args.indexOf("--");
      // `machines list` reads the inventory only and takes no SSH flags.
      const lists = args[0] === "machines" && args[1] === "list";
      const flags = ["--inventory", inventory, ...(lists ? [] : ["--ssh-config", sshConfig])];
      const full = dash < 0
        ? [...args, ...flags]
        : [...args.slice(0, dash), ...flags, ...args.slice(dash)];
      return cli.run(full, {
        env: { PROVCTL_STATE_DIR: "", XDG_STATE_HOME: `${cli.dir}/local-state` },
      });
    },
    async stop() {
      await stopKeepers(cli.dir);
      await fleet.stop();
      await Deno.remove(cli.dir, { recursive: true }).catch(() => {});
    },
  };
}
