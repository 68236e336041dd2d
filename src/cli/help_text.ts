/**
 * Help briefs for commands and flags, from the embedded messages.toml [help] table.
 * Command and flag specs read them through getters, so the table is only parsed when
 * help or an error needs it, not on every start.
 */
import { embeddedMessages, Messages } from "../config/messages.ts";

let catalog: Messages | undefined;

export function helpMessages(): Messages {
  catalog ??= new Messages(embeddedMessages());
  return catalog;
}

export function brief(key: string): string {
  return helpMessages().template(`help.${key}`);
}
