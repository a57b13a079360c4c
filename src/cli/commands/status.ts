// `tsraft status --endpoint URL [--endpoint URL2 ...] [--json]`: the whole
// cluster as a table, as the first reachable endpoint and the members it
// lists see it (src/api/console/cluster-overview.ts; the web console's
// cluster view shows the same):
//
//   cluster dev-1a2b · leader n3 · term 2 · commit 1,204 · asked n1
//
//   NODE     ROLE      HEALTH       TERM  COMMIT  APPLIED  LAG  UPTIME  CLIENT URL
//   n1 *     follower  healthy         2   1,204    1,204    0  3 min   http://127.0.0.1:8080
//   ...
//
// `--json` prints the ClusterOverview document instead (docs/console.md).
// Exit code 0 when an endpoint answered (whatever the members' health: read
// `health` in --json for that); 1 with TSR_ERR_UNREACHABLE when none did.
import { clusterOverview, httpStatusFetcher, type ClusterOverview, type MemberOverview, type StatusFetcher } from '../../api/console/cluster-overview.js';
import type { NodeStatus } from '../../api/status.js';
import { TsraftError, assert, rethrowIfBug } from '../../errors.js';

export const STATUS_TIMEOUT_MS = 3_000;

export interface StatusCommandOptions {
  endpoints: readonly string[];
  json: boolean;
  print: (line: string) => void;
  /** How /status documents are fetched (default: HTTP). */
  fetchStatus?: StatusFetcher;
}

export async function runStatus(options: StatusCommandOptions): Promise<number> {
  assert(options.endpoints.length > 0, 'runStatus: no endpoints');
  const fetchStatus = options.fetchStatus ?? httpStatusFetcher(STATUS_TIMEOUT_MS);
  const problems: string[] = [];
  let self: NodeStatus | null = null;
  for (const endpoint of options.endpoints) {
    try {
      self = await fetchStatus(endpoint);
      break;
    } catch (error) {
      rethrowIfBug(error);
      problems.push(`${endpoint}: ${(error as Error).message}`);
    }
  }
  if (self === null) {
    throw new TsraftError('TSR_ERR_UNREACHABLE', `no endpoint answered /status (${problems.join('; ')})`, { details: { endpoints: [...options.endpoints] } });
  }
  const overview = await clusterOverview(self, fetchStatus);
  if (options.json) options.print(JSON.stringify(overview, null, 2));
  else options.print(formatOverview(overview));
  return 0;
}

const COLUMNS: ReadonlyArray<{ title: string; right: boolean; cell: (m: MemberOverview, o: ClusterOverview) => string }> = [
  { title: 'NODE', right: false, cell: (m, o) => (m.id === o.answeredBy ? `${m.id} *` : m.id) },
  { title: 'ROLE', right: false, cell: (m) => m.role },
  { title: 'HEALTH', right: false, cell: (m) => m.health },
  { title: 'TERM', right: true, cell: (m) => number(m.term) },
  { title: 'COMMIT', right: true, cell: (m) => number(m.commitIndex) },
  { title: 'APPLIED', right: true, cell: (m) => number(m.appliedIndex) },
  { title: 'LAG', right: true, cell: (m) => number(m.lagEntries) },
  { title: 'UPTIME', right: false, cell: (m) => (m.uptimeSeconds === null ? '-' : duration(m.uptimeSeconds)) },
  { title: 'CLIENT URL', right: false, cell: (m) => m.clientUrl ?? '-' },
];

/** The readable table (no colours: it is read in logs and pasted into tickets). */
export function formatOverview(o: ClusterOverview): string {
  const header = `cluster ${o.clusterId} · leader ${o.leader ?? '(none)'} · term ${o.term} · commit ${number(o.commitIndex)} · asked ${o.answeredBy}`;
  if (o.members.length === 0) return `${header}\n\nno members known yet (the node is starting or joining)`;
  const rows = o.members.map((m) => COLUMNS.map((c) => c.cell(m, o)));
  const widths = COLUMNS.map((c, i) => Math.max(c.title.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (COLUMNS[i]!.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const lines = [header, '', line(COLUMNS.map((c) => c.title)), ...rows.map(line)];
  const notes = o.members.filter((m) => m.detail !== null && m.health !== 'healthy').map((m) => `  ${m.id}: ${m.detail}`);
  if (notes.length > 0) lines.push('', 'problems:', ...notes);
  lines.push('', '* the node that answered; LAG: entries behind the leader (known on the leader)');
  return lines.join('\n');
}

function number(value: number | null): string {
  return value === null ? '-' : value.toLocaleString('en-US');
}

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.floor(hours / 24)} d`;
}
