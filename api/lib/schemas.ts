/** Schemas shared by many routes: problem details and path parameters. */
import { z } from '@hono/zod-openapi';
import { TargetName } from '../../domain/model';

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    request_id: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');

export const problemResponse = (description: string) => ({
  content: { 'application/problem+json': { schema: ProblemSchema } },
  description,
});

export const TargetParam = z.object({
  target: TargetName.openapi({ param: { name: 'target', in: 'path' }, example: 'support-bot' }),
});

export const jsonBody = <T extends z.ZodType>(schema: T, description = 'Request body') => ({
  body: { content: { 'application/json': { schema } }, required: true, description },
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});

/** `{ items, next_cursor }`: one page of a cursor-paginated list (api/lib/pagination.ts). */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable() });

/**
 * The response declarations that routes of one resource share: a page of it, one of it, an update and a
 * delete, each with the 404 that `missing` describes ("No such subscription"). Routes add what is theirs
 * (409, 412, …) beside them.
 */
export function crudResponses<T extends z.ZodType>(schema: T, missing: string) {
  const notFound = { 404: problemResponse(missing) };
  return {
    notFound,
    page: (description: string) => ({
      200: jsonResponse(pageOf(schema), description),
      400: problemResponse('Invalid query'),
    }),
    read: (description: string) => ({ 200: jsonResponse(schema, description), ...notFound }),
    update: (description: string, invalid = 'Invalid body') => ({
      200: jsonResponse(schema, description),
      ...notFound,
      422: problemResponse(invalid),
    }),
    remove: (description = 'Deleted') => ({ 204: { description }, ...notFound }),
  };
}
