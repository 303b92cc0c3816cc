import { OpenAPIHono } from '@hono/zod-openapi';
import { validationHook } from './problem';
import type { AppBindings } from './types';

/** A router whose validators answer problem+json naming the bad fields. */
export function createRouter(): OpenAPIHono<AppBindings> {
  return new OpenAPIHono<AppBindings>({ strict: false, defaultHook: validationHook as never });
}
