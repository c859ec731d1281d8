/**
 * The output of a server the dev launchers run: each line goes to `log`, and the last few are kept
 * so that a failed start can say what the server said.
 */
export const LOG_TAIL_LINES = 40;

export function collectLines(stream: NodeJS.ReadableStream | null, tail: string[], log: (line: string) => void): void {
  if (!stream) return;
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines.filter((l) => l.trim() !== '')) {
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      log(line);
    }
  });
}
