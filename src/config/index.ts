// Node configuration: the file format is documented in docs/configuration.md.
export { loadNodeConfig, parseNodeConfig, MAX_CONFIG_FILE_BYTES } from './load.js';
export { validateNodeConfig, invalidConfig, peerUrlProblem, secretProblem, MIN_SECRET_BYTES, MAX_PEERS, type ConfigProblem } from './validate.js';
export { DEFAULTS, DEFAULT_LIMITS, type NodeConfig, type NodeLimits, type TlsConfig, type LogLevel } from './types.js';
