/** The caller an application service acts for: the request's authenticated identity, nothing it sent. */
import type { Context } from 'hono';
import type { Caller } from '../../app/caller';
import type { Identity } from './permissions';
import type { AppBindings } from './types';

/** The security middleware refused every request without an identity that may call the route. */
export const callerOf = (c: Context<AppBindings>): Caller => {
  const { id, actor } = c.get('identity');
  return { id, actor };
};

/** The same for a gRPC call, whose guard resolved the identity from its metadata. */
export const callerOfIdentity = ({ id, actor }: Identity): Caller => ({ id, actor });
