// Runs a stepwise encoder (a generator that yields between chunks of work) to completion, one
// step per event-loop turn, so a large snapshot is encoded without stalling I/O for its whole
// duration. The pure state machine provides the steps; the timers live here, in node/.
export function driveSteps<T>(steps: Generator<void, T, void>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const step = (): void => {
      try {
        const r = steps.next();
        if (r.done === true) resolve(r.value);
        else setImmediate(step);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    step();
  });
}
