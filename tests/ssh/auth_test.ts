import assert from "node:assert/strict";
import { fixEcdsaPrivateKey } from "../../src/ssh/_ecdsa_fix.ts";
import { loadSsh2, type Ssh2ParsedKey } from "../../src/ssh/_ssh2.ts";

type Signing = Ssh2ParsedKey & {
  sign(data: Uint8Array): Uint8Array | Error;
  verify(data: Uint8Array, signature: Uint8Array): boolean | Error;
  getPrivatePEM(): string;
};

Deno.test("ECDSA keys of every curve sign after the SEC1 fix (both mpint paddings)", async () => {
  const ssh2 = await loadSsh2();
  const dir = await Deno.makeTempDir();
  try {
    for (const bits of ["256", "384", "521"]) {
      let fixedOne = false;
      // About half of all keys carry a 0x00-padded scalar; keep going until one did.
      for (let i = 0; i < 40 && !(fixedOne && i >= 3); i++) {
        const file = `${dir}/k${bits}_${i}`;
        const out = await new Deno.Command("ssh-keygen", {
          args: ["-q", "-t", "ecdsa", "-b", bits, "-N", "", "-f", file],
        }).output();
        assert.ok(out.success);
        const key = ssh2.utils.parseKey(await Deno.readTextFile(file)) as Signing;
        const pub = ssh2.utils.parseKey(await Deno.readTextFile(`${file}.pub`)) as Signing;
        const before = key.getPrivatePEM();
        fixEcdsaPrivateKey(key);
        if (key.getPrivatePEM() !== before) fixedOne = true;
        const data = new TextEncoder().encode(`data ${i}`);
        const signature = key.sign(data);
        assert.ok(!(signature instanceof Error), `${bits}: ${signature}`);
        assert.equal(pub.verify(data, signature), true);
      }
      assert.ok(fixedOne, `no nistp${bits} key needed the fix in 40 tries`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
