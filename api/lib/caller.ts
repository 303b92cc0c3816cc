/** The caller an application service acts for: the request's authenticated identity, nothing it sent. */
import type { Context } from 'hono';
import type { Caller } from '../../app/cycles';
import type { AppBindings } from './types';

/** The security middleware refused every request without an identity that may call the route. */
export const callerOf = (c: Context<AppBindings>): Caller => {
  const { id, actor } = c.get('identity');
  return { id, actor };
};
