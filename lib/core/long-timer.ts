/** setTimeout fires at once for delays above 2^31-1 ms (about 24.8 days); chain shorter ones instead. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export interface LongTimer {
  clear(): void;
}

/** Calls `fn` at epoch-ms `at`, however far ahead. Timers are unref'd: they never keep a process alive. */
export function setLongTimeout(fn: () => void, at: number, now: () => number = Date.now): LongTimer {
  let handle: ReturnType<typeof setTimeout>;
  const arm = (): void => {
    const delay = at - now();
    handle = delay > MAX_TIMEOUT_MS ? setTimeout(arm, MAX_TIMEOUT_MS) : setTimeout(fn, Math.max(0, delay));
    handle.unref?.();
  };
  arm();
  return { clear: () => clearTimeout(handle) };
}
