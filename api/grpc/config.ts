/** llmopt.v1.ConfigService: the routing config an application serves, read once or watched. */
import { AppError } from '../../domain/errors';
import { SegmentName, TargetName } from '../../domain/model';
import { DEFAULT_SEGMENT } from '../../domain/names';
import type { ConfigServiceServer } from '../../proto/gen/llmopt/v1/config';
import type { ApiDeps } from '../lib/types';
import { configEtag } from '../routes/targets/config-read';
import { parse, sleep, toConfig } from './common';
import type { Guard } from './guard';

export function configService(deps: ApiDeps, guard: Guard, pollMs: number): ConfigServiceServer {
  const readConfig = async (target: string, segment: string) => {
    const cached = deps.caches?.routingConfigs;
    return cached ? cached.get(target, segment) : deps.repos.targets.currentConfig(target, segment);
  };
  const requireConfig = async (target: string, segment: string) => {
    const cfg = await readConfig(target, segment);
    if (cfg) return cfg;
    await deps.repos.targets.require(target);
    throw new AppError('not_found', `segment "${segment}" of target "${target}" not found`);
  };
  return {
    getRoutingConfig: guard.unary(async (req) => {
      const target = parse(TargetName, req.target, 'target');
      const segment = parse(SegmentName, req.segment || DEFAULT_SEGMENT, 'segment');
      return toConfig(await requireConfig(target, segment));
    }),
    watchRoutingConfig: guard.serverStream(async (req, _id, emit, alive) => {
      const target = parse(TargetName, req.target, 'target');
      const segment = parse(SegmentName, req.segment || DEFAULT_SEGMENT, 'segment');
      // Compared by ETag, not by version: a target deleted and created again starts over at version 1.
      let etag = '';
      while (alive()) {
        const cfg = await requireConfig(target, segment);
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
