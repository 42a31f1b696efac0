/** Polls `condition` until it holds; fails with `message` (and `onTimeout`'s detail) after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  options: {
    timeoutMs?: number;
    intervalMs?: number;
    message?: string;
    onTimeout?: () => Promise<string>;
  } = {},
): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 20, message = "condition", onTimeout } = options;
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      const detail = onTimeout ? ` (${await onTimeout()})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
