import type { CommandEntry } from '../../schemas/types/command.js';

/** A command's params are its whole entry (cmd, deps, outs, params, env), typed from command.schema.json. */
export type CommandParams = CommandEntry;
