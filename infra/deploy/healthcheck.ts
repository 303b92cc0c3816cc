/**
 * Probe run inside the container (Docker HEALTHCHECK, Kubernetes exec probes, compose healthchecks):
 * GET http://127.0.0.1:<port><path>, exit 0 on a 2xx answer, 1 otherwise. Worker processes bind their
 * health server to 127.0.0.1, so only a probe from inside their network namespace reaches it. The port is
 * HEALTH_PORT for a worker (set non-zero wherever a worker is deployed) and PORT for the API.
 * Usage: node dist/infra/deploy/healthcheck.mjs [/healthz|/readyz]
 */
export {}; // top-level await needs a module

const path = process.argv[2] ?? '/healthz';
const healthPort = Number(process.env.HEALTH_PORT ?? 0);
const port = healthPort > 0 ? healthPort : Number(process.env.PORT ?? 8080);

try {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(4_000) });
  if (!res.ok) process.stderr.write(`${path}: ${res.status} ${await res.text()}\n`);
  process.exitCode = res.ok ? 0 : 1;
} catch (err) {
  process.stderr.write(`${path} on port ${port}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
