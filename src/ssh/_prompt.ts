/**
 * Reads a secret from the terminal without echo. Returns undefined when stdin is not a
 * terminal: scripts never get a prompt (they set PROVCTL_SSH_PASSWORD/PASSPHRASE).
 */
// Fleet commands connect to many machines at once: prompts take turns on the one
// terminal, and an answer given for the same question is reused (one passphrase per key).
let turn: Promise<unknown> = Promise.resolve();
const answers = new Map<string, Promise<string | undefined>>();

export function promptSecret(message: string): Promise<string | undefined> {
  let answer = answers.get(message);
  if (!answer) {
    answer = turn.then(() => readSecret(message));
    turn = answer.catch(() => {});
    answers.set(message, answer);
    // A failed or empty answer is not remembered: the next connection asks again.
    answer.then((a) => a || answers.delete(message), () => answers.delete(message));
  }
  return answer;
}

async function readSecret(message: string): Promise<string | undefined> {
  if (!Deno.stdin.isTerminal()) return undefined;
  const encoder = new TextEncoder();
  await Deno.stderr.write(encoder.encode(message));
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  try {
    const buffer = new Uint8Array(64);
    read: while (true) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) break;
      for (const byte of buffer.subarray(0, n)) {
        if (byte === 0x0d || byte === 0x0a) break read; // Enter
        if (byte === 0x03 || byte === 0x04) return undefined; // Ctrl-C, Ctrl-D
        if (byte === 0x7f || byte === 0x08) bytes.pop(); // Backspace
        else bytes.push(byte);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encoder.encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
