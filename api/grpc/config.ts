/** llmopt.v1.ConfigService over app/targets.ts: the routing config an application serves, read once or watched. */
import { configEtag, createTargetsService } from '../../app/targets';
import { SegmentName, TargetName } from '../../domain/model';
import { DEFAULT_SEGMENT } from '../../domain/names';
import type { ConfigServiceServer } from '../../proto/gen/llmopt/v1/config';
import type { ApiDeps } from '../lib/types';
import { parse, sleep, toConfig } from './common';
import type { Guard } from './guard';

export function configService(deps: ApiDeps, guard: Guard, pollMs: number): ConfigServiceServer {
  // Over the server's own repositories and cache, as the REST routes (targets.index.ts) are.
  const targets = createTargetsService(deps);
  const inputOf = (req: { target: string; segment: string }) => ({
    target: parse(TargetName, req.target, 'target'),
    segment: parse(SegmentName, req.segment || DEFAULT_SEGMENT, 'segment'),
  });
  return {
    getRoutingConfig: guard.unary(async (req) => {
      const { target, segment } = inputOf(req);
      return toConfig(await targets.config(target, segment));
    }),
    watchRoutingConfig: guard.serverStream(async (req, _id, emit, alive) => {
      const { target, segment } = inputOf(req);
      // Compared by ETag, not by version: a target deleted and created again starts over at version 1.
      let etag = '';
      while (alive()) {
        const cfg = await targets.config(target, segment);
        const current = configEtag(cfg);
        if (current !== etag) {
          etag = current;
          await emit(toConfig(cfg));
        }
        await sleep(pollMs);
      }
    }),
  };
}
