// The tsraft package: the client library and the error codes it returns.
// The node itself is started with the `tsraft` command (src/cli/main.ts).
export * from './client/index.js';
