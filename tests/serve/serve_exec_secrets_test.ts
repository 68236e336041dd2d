/**
 * POST /exec keeps its request on the operation (GET /operations, the event stream),
 * where every read token sees it: secrets in the command are masked there as in the
 * audit log.
 */
import assert from "node:assert/strict";
import { cliSandbox } from "../helpers/cli.ts";
import {
  apiClient,
  createToken,
  OpenApiChecker,
  type RunningServer,
  startServer,
} from "../helpers/serve.ts";

const MACHINES = `
[machines.m1]
host = "127.0.0.1"
port = 1
`;

Deno.test({
  name: "an exec operation's request shows its command with secrets masked",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cli = await cliSandbox();
    let server: RunningServer | undefined;
    try {
      await Deno.writeTextFile(`${cli.dir}/machines.toml`, MACHINES);
      const read = await createToken(cli, "viewer", "read");
      const operate = await createToken(cli, "ops", "operate");
      server = await startServer((args) => cli.spawn(args));
      const api = apiClient(server.url, await OpenApiChecker.load(server.url));
      const events = await fetch(`${server.url}/api/v1/events?topics=operation`, {
        headers: { authorization: `Bearer ${read}` },
      });

      const shell = await api("POST", "/exec", {
        token: operate,
        body: { machines: ["m1"], shell: "PGPASSWORD=hunter2 psql -c 'select 1'" },
      });
      assert.equal(shell.status, 202, shell.text);
      const argv = await api("POST", "/exec", {
        token: operate,
        body: { machines: ["m1"], argv: ["curl", "-u", "admin:sw0rdfish", "https://x.test/"] },
      });
      assert.equal(argv.status, 202, argv.text);

      for (const started of [shell, argv]) {
        const id = (started.body as { id: string }).id;
        const op = await api("GET", `/operations/${id}`, { token: read });
        assert.equal(op.status, 200, op.text);
        assert.doesNotMatch(op.text, /hunter2|sw0rdfish/);
      }
      const { request } = (await api("GET", `/operations/${(shell.body as { id: string }).id}`, {
        token: read,
      })).body as { request: { shell: string } };
      assert.equal(request.shell, "PGPASSWORD=*** psql -c 'select 1'");
      const { request: second } =
        (await api("GET", `/operations/${(argv.body as { id: string }).id}`, {
          token: read,
        })).body as { request: { argv: string[] } };
      assert.deepEqual(second.argv, ["curl", "-u", "admin:***", "https://x.test/"]);
      const list = await api("GET", "/operations", { token: read });
      assert.doesNotMatch(list.text, /hunter2|sw0rdfish/);

      // The stream told the same requests (two started, two finished).
      const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      const deadline = Date.now() + 10_000;
      while ((text.match(/event: operation/g) ?? []).length < 4 && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      await reader.cancel();
      assert.match(text, /PGPASSWORD=\*\*\*/);
      assert.doesNotMatch(text, /hunter2|sw0rdfish/);
    } finally {
      if (server) assert.equal(await server.stop(), 0);
      await cli.cleanup();
    }
  },
});
