/** The file family: its events, their descriptions and their lifetime effects (README.md: adding a family). */
export * from './events.js';
export { describeFile } from './describe.js';
export { fileEffects } from './effects.js';
