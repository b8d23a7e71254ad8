/** lifetrace's version: what `--version` prints, captures and exports record, and the server reports. Keep it package.json's. */
export const LIFETRACE_VERSION = '0.1.0';
