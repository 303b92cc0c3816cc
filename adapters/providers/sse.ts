/**
 * Reading token usage from a server-sent-event stream as it passes through, without changing a byte of
 * it: fed every chunk, it hands each `data:` payload that mentions "usage" to the format's reader, which
 * folds it into the usage so far. Only such events are parsed, so the hot path stays a string search.
 */

/** Token counts of a completion, from the provider's `usage`. */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
}

export type UsageReader = (data: unknown, sofar: Usage | undefined) => Usage | undefined;

export function sseUsageScanner(read: UsageReader) {
  const decoder = new TextDecoder();
  let pending = '';
  let usage: Usage | undefined;
  const scan = (event: string) => {
    if (!event.includes('"usage"')) return;
    for (const line of event.split('\n')) {
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') continue;
      try {
        usage = read(JSON.parse(data), usage) ?? usage;
      } catch {
        // Not JSON: not ours to judge; the client reads the stream as the provider sent it.
      }
    }
  };
  return {
    push(bytes: Uint8Array): void {
      pending += decoder.decode(bytes, { stream: true }).replace(/\r\n/g, '\n');
      let end = pending.indexOf('\n\n');
      while (end >= 0) {
        scan(pending.slice(0, end));
        pending = pending.slice(end + 2);
        end = pending.indexOf('\n\n');
      }
    },
    usage(): Usage | undefined {
      if (pending) scan(pending);
      pending = '';
      return usage;
    },
  };
}
