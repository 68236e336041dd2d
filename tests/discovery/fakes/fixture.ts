/**
 * The machines every fake provider serves, provider-neutral; each fake renders them in
 * its API's shapes. Covers: several pages (7 machines, 2 a page), key/value and bare
 * tags, public/private IPv4 and IPv6, a machine without a public address, a stopped one,
 * one with only IPv6, and hostile names and tags (control characters, markup, shell
 * metacharacters).
 */
export interface FakeMachine {
  readonly id: string;
  readonly name: string;
  readonly publicV4?: string;
  readonly privateV4?: string;
  /** The server's own address (Hetzner serves its /64 network; the address is ::1). */
  readonly publicV6?: string;
  readonly running: boolean;
  readonly region: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly bare: readonly string[];
}

export const HOSTILE_NAME = "evil\u001b[31m<script>alert(1)</script>$(rm -rf /);`id`";

export function fixtureMachines(): FakeMachine[] {
  return [
    {
      id: "1001",
      name: "web1",
      publicV4: "203.0.113.10",
      privateV4: "192.168.130.10",
      publicV6: "2001:db8:10::1",
      running: true,
      region: "fsn1",
      tags: { env: "prod", role: "web" },
      bare: ["frontend"],
    },
    {
      id: "1002",
      name: "web2",
      publicV4: "203.0.113.11",
      privateV4: "192.168.130.11",
      running: true,
      region: "fsn1",
      tags: { env: "prod", role: "web" },
      bare: [],
    },
    {
      id: "1003",
      name: "db1",
      privateV4: "192.168.130.20",
      running: true,
      region: "nbg1",
      tags: { env: "prod", role: "db" },
      bare: [],
    },
    {
      id: "1004",
      name: "old1",
      publicV4: "203.0.113.40",
      running: false,
      region: "nbg1",
      tags: { env: "prod" },
      bare: [],
    },
    {
      id: "1005",
      name: "v6only",
      publicV6: "2001:db8:50::1",
      running: true,
      region: "hel1",
      tags: { env: "staging" },
      bare: [],
    },
    {
      id: "1006",
      name: HOSTILE_NAME,
      publicV4: "203.0.113.60",
      running: true,
      region: "hel1",
      tags: { "bad key!<b>": "va lue;$(rm -rf /)" },
      bare: ["x<script>\u0007"],
    },
    {
      id: "1007",
      name: "web3",
      publicV4: "203.0.113.12",
      running: true,
      region: "hel1",
      tags: { env: "staging", role: "web" },
      bare: [],
    },
  ];
}

/** `count` plain running machines (with a page size of 1: as many pages), for paging limits. */
export function manyMachines(count: number): FakeMachine[] {
  const regions = ["fsn1", "nbg1"];
  return Array.from({ length: count }, (_, i) => ({
    id: String(5000 + i),
    name: `bulk${i}`,
    publicV4: `198.51.100.${i % 250}`,
    running: true,
    region: regions[i % 2],
    tags: { env: "prod" },
    bare: [],
  }));
}
