import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { fingerprintMd5, fingerprintSha256, keyTypeOf } from "../../src/ssh/fingerprint.ts";
import { isProvctlError } from "../../src/core/errors.ts";

async function run(program: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `${program} ${args.join(" ")} failed: ${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

const KEYS: { type: string; args: string[]; keyType: string }[] = [
  { type: "ed25519", args: ["-t", "ed25519"], keyType: "ssh-ed25519" },
  { type: "ecdsa-256", args: ["-t", "ecdsa", "-b", "256"], keyType: "ecdsa-sha2-nistp256" },
  { type: "ecdsa-384", args: ["-t", "ecdsa", "-b", "384"], keyType: "ecdsa-sha2-nistp384" },
  { type: "ecdsa-521", args: ["-t", "ecdsa", "-b", "521"], keyType: "ecdsa-sha2-nistp521" },
  { type: "rsa-2048", args: ["-t", "rsa", "-b", "2048"], keyType: "ssh-rsa" },
];

Deno.test("fingerprints and key types match ssh-keygen -lf on freshly generated keys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-fp-" });
  try {
    for (const key of KEYS) {
      const path = `${dir}/${key.type}`;
      await run("ssh-keygen", ["-q", ...key.args, "-N", "", "-C", "test", "-f", path]);
      const pub = (await Deno.readTextFile(`${path}.pub`)).trim().split(/\s+/);
      const blob = new Uint8Array(Buffer.from(pub[1], "base64"));
      // ssh-keygen -lf prints "BITS FINGERPRINT COMMENT (TYPE)".
      const sha = (await run("ssh-keygen", ["-lf", `${path}.pub`])).split(" ")[1];
      const md5 = (await run("ssh-keygen", ["-E", "md5", "-lf", `${path}.pub`])).split(" ")[1];
      assert.equal(fingerprintSha256(blob), sha, key.type);
      assert.equal(fingerprintMd5(blob), md5, key.type);
      assert.equal(keyTypeOf(blob), key.keyType);
      assert.equal(keyTypeOf(blob), pub[0]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keyTypeOf rejects blobs that are not SSH keys", () => {
  for (
    const blob of [
      new Uint8Array(0),
      new Uint8Array([0, 0, 0, 9, 65]),
      new Uint8Array([0, 0, 0, 2, 0, 10]),
    ]
  ) {
    assert.throws(() => keyTypeOf(blob), (e) => isProvctlError(e, "InvalidArgument"));
  }
});

Deno.test("a subarray blob is hashed over its own bytes only", () => {
  const blob = new Uint8Array([0, 0, 0, 11, ...new TextEncoder().encode("ssh-ed25519"), 1, 2]);
  const padded = new Uint8Array(blob.length + 8);
  padded.set(blob, 4);
  const view = padded.subarray(4, 4 + blob.length);
  assert.equal(keyTypeOf(view), "ssh-ed25519");
  assert.equal(fingerprintSha256(view), fingerprintSha256(blob));
  assert.equal(fingerprintMd5(view), fingerprintMd5(blob));
});
