import assert from "node:assert/strict";
import { credentialsFor, parseIni } from "../../src/discovery/_credentials.ts";
import { sourcesOf } from "../../src/discovery/discover.ts";
import { type Provider, PROVIDER_INFO } from "../../src/discovery/provider.ts";
import { parseInventory } from "../../src/fleet/inventory.ts";
import { expectProvctlError } from "../helpers/errors.ts";

const source = (text: string) => sourcesOf(parseInventory(text, { file: "/m.toml" }))[0];
const provider = (kind: keyof typeof PROVIDER_INFO) =>
  ({ ...PROVIDER_INFO[kind], list: () => [] }) as unknown as Provider;

Deno.test("credentials: token_env, the provider's default variable, and a clear error naming it", async () => {
  const s = source(`[sources.h]\nprovider = "hetzner"\ntoken_env = "MY_TOKEN"\n`);
  assert.deepEqual(await credentialsFor(s, provider("hetzner"), { env: { MY_TOKEN: " abc \n" } }), {
    kind: "token",
    token: "abc",
    variable: "MY_TOKEN",
  });
  const d = source(`[sources.d]\nprovider = "digitalocean"\n`);
  const c = await credentialsFor(d, provider("digitalocean"), { env: { DIGITALOCEAN_TOKEN: "t" } });
  assert.equal(c.variable, "DIGITALOCEAN_TOKEN");
  const e = await expectProvctlError(
    "AuthFailed",
    credentialsFor(s, provider("hetzner"), { env: {} }),
  );
  assert.equal(e.key, "discovery.token_missing");
  assert.equal(e.params.variable, "MY_TOKEN");
});

Deno.test("credentials: UpCloud takes a token or Basic auth from UPCLOUD_USERNAME/PASSWORD", async () => {
  const s = source(`[sources.u]\nprovider = "upcloud"\n`);
  const basic = await credentialsFor(s, provider("upcloud"), {
    env: { UPCLOUD_USERNAME: "api", UPCLOUD_PASSWORD: "pw" },
  });
  assert.deepEqual(basic, {
    kind: "basic",
    user: "api",
    password: "pw",
    variable: "UPCLOUD_USERNAME/UPCLOUD_PASSWORD",
  });
  const token = await credentialsFor(s, provider("upcloud"), {
    env: { UPCLOUD_TOKEN: "ucat_x", UPCLOUD_USERNAME: "api", UPCLOUD_PASSWORD: "pw" },
  });
  assert.equal(token.kind, "token");
});

Deno.test("credentials: token_file must be a private regular file of the user", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/token`;
    await Deno.writeTextFile(file, "tok\n");
    const s = source(`[sources.h]\nprovider = "hetzner"\ntoken_file = "${file}"\n`);
    await Deno.chmod(file, 0o640);
    const e = await expectProvctlError(
      "PermissionDenied",
      credentialsFor(s, provider("hetzner"), { env: {} }),
    );
    assert.equal(e.params.mode, "0640");
    await Deno.chmod(file, 0o600);
    const c = await credentialsFor(s, provider("hetzner"), { env: {} });
    assert.deepEqual(c, { kind: "token", token: "tok", variable: file });
    await Deno.symlink(file, `${dir}/link`);
    const viaLink = source(`[sources.h]\nprovider = "hetzner"\ntoken_file = "${dir}/link"\n`);
    await expectProvctlError(
      "PermissionDenied",
      credentialsFor(viaLink, provider("hetzner"), { env: {} }),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("credentials: AWS from the environment (with an STS session token) or a credentials profile", async () => {
  const s = source(`[sources.a]\nprovider = "aws"\n`);
  const fromEnv = await credentialsFor(s, provider("aws"), {
    env: { AWS_ACCESS_KEY_ID: "AKIA1", AWS_SECRET_ACCESS_KEY: "sec", AWS_SESSION_TOKEN: "sts" },
  });
  assert.deepEqual(fromEnv, {
    kind: "aws",
    accessKeyId: "AKIA1",
    secretAccessKey: "sec",
    sessionToken: "sts",
    variable: "AWS_ACCESS_KEY_ID",
  });
  const home = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${home}/.aws`);
    await Deno.writeTextFile(
      `${home}/.aws/credentials`,
      "[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = defsecret\n\n" +
        "# a comment\n[prod]\naws_access_key_id=AKIAPROD\naws_secret_access_key=prodsecret\naws_session_token = prodsts\n",
      { mode: 0o600 },
    );
    const def = await credentialsFor(s, provider("aws"), { env: {}, home });
    assert.equal(def.kind === "aws" && def.accessKeyId, "AKIADEF");
    const viaEnvProfile = await credentialsFor(s, provider("aws"), {
      env: { AWS_PROFILE: "prod" },
      home,
    });
    assert.equal(viaEnvProfile.kind === "aws" && viaEnvProfile.sessionToken, "prodsts");
    const named = source(`[sources.a]\nprovider = "aws"\naws_profile = "prod"\n`);
    const prod = await credentialsFor(named, provider("aws"), {
      env: { AWS_ACCESS_KEY_ID: "ignored", AWS_SECRET_ACCESS_KEY: "ignored" },
      home,
    });
    assert.equal(
      prod.kind === "aws" && prod.accessKeyId,
      "AKIAPROD",
      "aws_profile wins over the env",
    );
    const missing = source(`[sources.a]\nprovider = "aws"\naws_profile = "nope"\n`);
    const e = await expectProvctlError(
      "AuthFailed",
      credentialsFor(missing, provider("aws"), { env: {}, home }),
    );
    assert.match(String(e.params.variable), /credentials \[nope\]$/);
    await Deno.chmod(`${home}/.aws/credentials`, 0o666);
    await expectProvctlError(
      "PermissionDenied",
      credentialsFor(s, provider("aws"), { env: {}, home }),
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("parseIni: sections, comments, spaces, case of keys", () => {
  assert.deepEqual(
    JSON.parse(JSON.stringify(parseIni("; c\n[ a ]\nK = v = w\n[b]\nx=1\r\n"))),
    { a: { k: "v = w" }, b: { x: "1" } },
  );
});
