/**
 * The seam of cloud discovery: one small interface per provider, one file per provider
 * (aws.ts, digitalocean.ts, ...), each turning its API's pages into normalized machine
 * records. Everything else (credentials, retries, cache, tags -> labels, names, the
 * merge into the inventory) is shared and lives beside it.
 */
import type { ApiClient } from "./_http.ts";

export const PROVIDER_KINDS = [
  "aws",
  "digitalocean",
  "hetzner",
  "linode",
  "vultr",
  "upcloud",
] as const;
export type ProviderKind = typeof PROVIDER_KINDS[number];

/** Addresses a machine may have; `connect_with` lists which to try, in order. */
export const ADDRESS_KINDS = [
  "public_ipv4",
  "private_ipv4",
  "public_ipv6",
  "private_ipv6",
  "public_dns",
  "private_dns",
] as const;
export type AddressKind = typeof ADDRESS_KINDS[number];

/** A provider tag as found: `key` alone for a bare tag (DigitalOcean "web"). */
export interface ProviderTag {
  readonly key: string;
  readonly value?: string;
}

/** One machine as a provider reports it, normalized (stored in the cache as is). */
export interface MachineRecord {
  /** The provider's id (instance id, droplet id, UUID...), as a string. */
  readonly id: string;
  /** The provider's name for it (Name tag, label, hostname...), raw. */
  readonly name: string;
  readonly addresses: Readonly<Partial<Record<AddressKind, string>>>;
  /** The provider's own word (running, off, active, stopped...). */
  readonly status: string;
  /** True when the provider says it is up. */
  readonly running: boolean;
  /** Region, zone or location as the provider names it. */
  readonly region: string;
  readonly tags: readonly ProviderTag[];
}

export type Credentials =
  | { readonly kind: "token"; readonly token: string; readonly variable: string }
  | {
    readonly kind: "basic";
    readonly user: string;
    readonly password: string;
    readonly variable: string;
  }
  | {
    readonly kind: "aws";
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
    /** Where they came from, e.g. "AWS_ACCESS_KEY_ID" or "~/.aws/credentials [prod]". */
    readonly variable: string;
  };

/** What a provider gets to list machines. */
export interface ListRequest {
  /** Base URL (api_url, or the provider's default); for AWS it may hold `{region}`. */
  readonly apiUrl: string;
  readonly credentials: Credentials;
  /** `filters` of the source, already checked against the provider's filterKeys. */
  readonly filters: Readonly<Record<string, string>>;
  /** AWS: the regions to query (in parallel). */
  readonly regions: readonly string[];
  /** Machines asked per page (page_size, else the provider's maximum). */
  readonly pageSize?: number;
  /** Pages read in all (all regions together) before giving up with too_many_pages. */
  readonly maxPages: number;
  readonly http: ApiClient;
}

export interface ProviderInfo {
  readonly kind: ProviderKind;
  readonly defaultApiUrl: string;
  /** The environment variable read when a source sets neither token_env nor token_file. */
  readonly defaultTokenEnv: string;
  /** Filter keys the API understands (plus `status`, which every provider accepts). */
  readonly filterKeys: readonly string[];
  readonly maxPageSize: number;
}

/** What is known about each provider without loading its module (sources are checked with it). */
export const PROVIDER_INFO = {
  aws: {
    kind: "aws",
    defaultApiUrl: "https://ec2.{region}.amazonaws.com/",
    defaultTokenEnv: "AWS_ACCESS_KEY_ID",
    filterKeys: ["*"],
    maxPageSize: 1000,
  },
  digitalocean: {
    kind: "digitalocean",
    defaultApiUrl: "https://api.digitalocean.com/v2",
    defaultTokenEnv: "DIGITALOCEAN_TOKEN",
    filterKeys: ["tag_name", "name"],
    maxPageSize: 200,
  },
  hetzner: {
    kind: "hetzner",
    defaultApiUrl: "https://api.hetzner.cloud/v1",
    defaultTokenEnv: "HCLOUD_TOKEN",
    filterKeys: ["label_selector", "status", "name"],
    maxPageSize: 50,
  },
  linode: {
    kind: "linode",
    defaultApiUrl: "https://api.linode.com/v4",
    defaultTokenEnv: "LINODE_TOKEN",
    filterKeys: ["tags", "region", "label", "type", "image"],
    maxPageSize: 500,
  },
  vultr: {
    kind: "vultr",
    defaultApiUrl: "https://api.vultr.com/v2",
    defaultTokenEnv: "VULTR_API_KEY",
    filterKeys: ["tag", "label", "region", "main_ip"],
    maxPageSize: 500,
  },
  upcloud: {
    kind: "upcloud",
    defaultApiUrl: "https://api.upcloud.com/1.3",
    defaultTokenEnv: "UPCLOUD_TOKEN",
    filterKeys: ["label", "tag"],
    maxPageSize: 100,
  },
} as const satisfies Record<ProviderKind, ProviderInfo>;

export interface Provider extends ProviderInfo {
  /** Pages of machines, in the provider's order. */
  list(request: ListRequest): AsyncIterable<readonly MachineRecord[]>;
}

export function isProviderKind(value: string): value is ProviderKind {
  return (PROVIDER_KINDS as readonly string[]).includes(value);
}
