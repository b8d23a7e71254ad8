/** The epoll family: its events, their descriptions and their lifetime effects (README.md: adding a family). */
export * from './events.js';
export { describeEpoll } from './describe.js';
export { epollEffects } from './effects.js';
