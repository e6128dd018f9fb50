export { WatchHub, type WatchHubOptions } from './hub.js';
export type { WatchFilter, WatchMessage, WatchRequest, WatchSink } from './types.js';
