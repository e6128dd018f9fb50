// Filled in by the barrier implementation (issue 6).
export {};
