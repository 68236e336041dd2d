/** Help briefs for commands and flags, from the embedded messages.toml [help] table. */
import { embeddedMessages, Messages } from "../config/messages.ts";

let catalog: Messages | undefined;

export function helpMessages(): Messages {
  catalog ??= new Messages(embeddedMessages());
  return catalog;
}

export function brief(key: string): string {
  return helpMessages().template(`help.${key}`);
}
