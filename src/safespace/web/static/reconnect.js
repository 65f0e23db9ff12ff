// How long the room waits before trying its socket again. The wait doubles after each
// failed try, up to 8 s, and is drawn at random from the second half of each step. When a
// server process stops, every socket it held drops at the same moment: without the random
// part they would all come back together, in waves, at the process that is left.

export const FIRST = 500; // ms
export const LONGEST = 8000;

export function makeBackoff(random = Math.random) {
  let step = FIRST;
  return {
    next() {
      const wait = step / 2 + (random() * step) / 2;
      step = Math.min(step * 2, LONGEST);
      return wait;
    },
    reset() {
      step = FIRST;
    },
  };
}
