/**
 * The PID-file backend's shell scripts, embedded in the program as text. pidfile.ts loads
 * this module when it first runs one of them: `provctl status` on this machine runs none
 * (_pidfile/local_status.ts answers in-process), so its start-up neither loads nor keeps
 * them.
 */
import common from "./common.sh" with { type: "text" };
import trustPrologue from "./trust.sh" with { type: "text" };
import startScript from "./start.sh" with { type: "text" };
import statusScript from "./status.sh" with { type: "text" };
import stopScript from "./stop.sh" with { type: "text" };
import superviseScript from "./supervise.sh" with { type: "text" };

/** The prologue of every script: checks the state directories it is given (trust.sh). */
export const TRUST_PROLOGUE = trustPrologue;
// A function replacement: a string one would read "$$" in the scripts as "$".
export const START = `${common}\n${
  startScript.replace("@COMMON@", () => common).replace("@SUPERVISE@", () => superviseScript)
}`;
export const STATUS = `${common}\n${statusScript}`;
export const STOP = `${common}\n${stopScript}`;
