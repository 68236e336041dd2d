/**
 * Provider implementations by kind, each loaded only when a source of that kind is
 * configured (aws.ts pulls in aws4fetch and fast-xml-parser). Apart from provider.ts so
 * that the provider files, which import provider.ts, form no import cycle with it.
 */
import type { Provider, ProviderKind } from "./provider.ts";

/** The provider implementation, loaded only when a source of that kind is configured. */
export async function loadProvider(kind: ProviderKind): Promise<Provider> {
  switch (kind) {
    case "aws":
      return (await import("./aws.ts")).aws;
    case "digitalocean":
      return (await import("./digitalocean.ts")).digitalocean;
    case "hetzner":
      return (await import("./hetzner.ts")).hetzner;
    case "linode":
      return (await import("./linode.ts")).linode;
    case "vultr":
      return (await import("./vultr.ts")).vultr;
    case "upcloud":
      return (await import("./upcloud.ts")).upcloud;
  }
}
