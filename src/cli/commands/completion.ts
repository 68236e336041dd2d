/** provctl completion bash|zsh|fish: a script that completes commands, flags and service names. */
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { completionScript } from "../completion_scripts.ts";

export default command<GlobalFlags, ["bash" | "zsh" | "fish"]>((session, _flags, shell) => {
  session.out(completionScript(shell));
  return Promise.resolve();
});
