/** gRPC statuses for what the API could not do: a dependency that does not answer is UNAVAILABLE, as REST's 503. */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { toStatus } from '../../../api/grpc/common';
import { createLogger } from '../../../platform/logger';

const deps = { logger: createLogger('test', 'silent') };

describe('toStatus', () => {
  it('answers UNAVAILABLE with retry-after naming PostgreSQL when it refuses connections', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const s = toStatus(refused, deps);
    expect(s.code).toBe(grpc.status.UNAVAILABLE);
    expect(s.details).toBe('postgres is not answering; retry later');
    expect(s.metadata!.get('retry-after')).toEqual(['2']);
  });

  it('keeps INTERNAL, without internals, for anything else', () => {
    const s = toStatus(new TypeError('x is undefined'), deps);
    expect(s.code).toBe(grpc.status.INTERNAL);
    expect(s.details).not.toContain('undefined');
  });
});
