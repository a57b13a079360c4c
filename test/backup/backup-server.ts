// A real HTTP server on 127.0.0.1 (port 0) serving the backup route for an
// in-process state machine, through nodeBackupSource as a node wires it, with
// the replica's part reduced to what a node that applied everything answers.
import { HttpServer, readJson, sendJson } from '../../src/api/http-server.js';
import { checkBackupRecord, type BackupRecord } from '../../src/metrics/backup-history.js';
import { TokenAuth, type ClientToken } from '../../src/api/auth.js';
import { nodeBackupSource, registerBackupRoutes, type NodeBackupParts } from '../../src/backup/route.js';
import type { ReplicaStatus } from '../../src/replica/types.js';
import type { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';

export interface TestBackupServer {
  url: string;
  /** What the route recorded about each stream, and what clients reported (POST /backups). */
  streamRecords: BackupRecord[];
  clientReports: BackupRecord[];
  close(): Promise<void>;
}

export const SOURCE_CLUSTER_ID = 'source-cluster';

export interface BackupServerOptions {
  /** Runs just before the capture (e.g. applies a write, as a busy node would). */
  beforeCapture?: () => void;
  raftTerm?: number;
  /** Client tokens the route requires. */
  tokens?: ClientToken[];
}

export async function startBackupServer(sm: TimeSeriesStateMachine, raftIndex: () => number, options: BackupServerOptions = {}): Promise<TestBackupServer> {
  const server = new HttpServer({ maxBodyBytes: 32 * 1024 * 1024, maxConnections: 16 });
  // The replica's side of a capture for a one-node "cluster" that has applied
  // everything: its read barrier has nothing to wait for.
  const members = [1, 2, 3].map((i) => ({ id: `n${i}`, url: `ws://127.0.0.1:${i}`, role: i === 1 ? 'leader' : 'follower' }));
  const replica: NodeBackupParts['replica'] = {
    readBarrier: async () => raftIndex(),
    // The capture asks for the status first: a write applied here lands before the capture.
    status: () => {
      options.beforeCapture?.();
      return { members, term: options.raftTerm ?? 3 } as unknown as ReplicaStatus;
    },
    termAt: () => options.raftTerm ?? 3,
    get appliedIndex() {
      return raftIndex();
    },
  };
  const stateMachine: NodeBackupParts['stateMachine'] = {
    snapshot: () => sm.snapshot(),
    get appliedIndex() {
      return sm.appliedIndex;
    },
  };
  const source = nodeBackupSource({
    replica,
    stateMachine,
    clusterId: SOURCE_CLUSTER_ID,
    nodeId: 'n1',
    ...(options.tokens === undefined ? {} : { auth: new TokenAuth(options.tokens) }),
  });
  const streamRecords: BackupRecord[] = [];
  const clientReports: BackupRecord[] = [];
  registerBackupRoutes(server, source, { recorder: { record: (r) => streamRecords.push(r) } });
  // What the node's metrics route does with a client's report (src/api/metrics-route.ts).
  server.route('POST', '/backups', async ({ req, res }) => {
    clientReports.push(checkBackupRecord(await readJson(req, 16 * 1024)));
    sendJson(res, 200, { ok: true });
  });
  const { port } = await server.listen('127.0.0.1', 0);
  return { url: `http://127.0.0.1:${port}`, streamRecords, clientReports, close: () => server.close(0) };
}
