/**
 * The environment every Python peer of the benchmark runs in. glibc's malloc hands large
 * arrays back to the kernel by default, so every numpy temporary of a forward pass lands in a
 * fresh mmap and page-faults its way in (6–8 ms for the 30→64 layer over 2,048 rows instead of
 * 0.25 ms): a peer run at its best keeps them in the heap.
 */
export const PEER_ENV = {
  MALLOC_MMAP_THRESHOLD_: '268435456',
  MALLOC_TRIM_THRESHOLD_: '268435456',
} as const;

export const PEER_ENV_TEXT = `glibc allocator tuned (${Object.entries(PEER_ENV)
  .map(([k, v]) => `${k}=${v}`)
  .join(' ')})`;
