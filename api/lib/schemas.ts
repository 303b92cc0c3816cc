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
