// Maintenance requests between nodes are signed with the cluster secret:
// the right member, secret, path, body and time pass; anything else is 401.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { PEER_HEADER, signPeerRequest, verifyPeerRequest } from '../../src/backup/schedule-peer.js';

const secret = new TextEncoder().encode('the cluster secret, 32 bytes long');
const now = 1_700_000_000_000;
const members = (id: string): boolean => ['n1', 'n2', 'n3'].includes(id);

function request(header: string, url = '/api/maintenance/digests?index=5', method = 'GET'): IncomingMessage {
  return { headers: { [PEER_HEADER]: header }, url, method } as unknown as IncomingMessage;
}

describe('peer signatures', () => {
  const body = new Uint8Array([1, 2, 3]);
  const good = signPeerRequest(secret, 'n2', 'POST', '/api/maintenance/backup-record', body, now);

  it('accepts a request signed by a member with the cluster secret', () => {
    expect(verifyPeerRequest(secret, request(good, '/api/maintenance/backup-record', 'POST'), body, members, now + 1000)).toBe('n2');
  });

  it('refuses another secret, another body, another path, a stale time, a non-member and a missing header', () => {
    const refused = (req: IncomingMessage, b = body, at = now): void => {
      expect(() => verifyPeerRequest(secret, req, b, members, at)).toThrow(expect.objectContaining({ code: 'TSR_ERR_UNAUTHORIZED' }));
    };
    refused(request(signPeerRequest(new TextEncoder().encode('another secret of the same length!'), 'n2', 'POST', '/api/maintenance/backup-record', body, now), '/api/maintenance/backup-record', 'POST'));
    refused(request(good, '/api/maintenance/backup-record', 'POST'), new Uint8Array([1, 2, 4]));
    refused(request(good, '/api/maintenance/segment', 'POST'));
    refused(request(good, '/api/maintenance/backup-record', 'POST'), body, now + 6 * 60_000);
    refused(request(signPeerRequest(secret, 'n9', 'POST', '/api/maintenance/backup-record', body, now), '/api/maintenance/backup-record', 'POST'));
    refused({ headers: {}, url: '/', method: 'GET' } as unknown as IncomingMessage);
  });
});
