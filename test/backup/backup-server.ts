// A real HTTP server on 127.0.0.1 (port 0) serving the backup route for an
// in-process state machine: what a node does, minus Raft. The read barrier
// resolves at once (one replica), the capture is the state machine's snapshot.
import { HttpServer, readJson, sendJson } from '../../src/api/http-server.js';
import { checkBackupRecord, type BackupRecord } from '../../src/metrics/backup-history.js';
import { registerBackupRoutes, type BackupRouteSource } from '../../src/backup/route.js';
import type { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';

export interface TestBackupServer {
  url: string;
  /** What the route recorded about each stream, and what clients reported (POST /backups). */
  streamRecords: BackupRecord[];
  clientReports: BackupRecord[];
  close(): Promise<void>;
}

export const SOURCE_CLUSTER_ID = 'source-cluster';

export async function startBackupServer(sm: TimeSeriesStateMachine, raftIndex: () => number, options: { beforeCapture?: () => void; raftTerm?: number } = {}): Promise<TestBackupServer> {
  const server = new HttpServer({ maxBodyBytes: 32 * 1024 * 1024, maxConnections: 16 });
  const source: BackupRouteSource = {
    readBarrier: async () => {},
    capture: () => {
      options.beforeCapture?.();
      return {
        tssm: sm.snapshot(),
        info: {
          clusterId: SOURCE_CLUSTER_ID,
          nodeId: 'n1',
          raftIndex: raftIndex(),
          raftTerm: options.raftTerm ?? 3,
          membership: { voters: ['n1', 'n2', 'n3'], learners: [], peerUrls: { n1: 'ws://127.0.0.1:1', n2: 'ws://127.0.0.1:2', n3: 'ws://127.0.0.1:3' } },
          createdAtMs: Date.now(),
        },
      };
    },
  };
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
