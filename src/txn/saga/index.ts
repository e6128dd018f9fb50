// Filled in by the saga implementation (issue 6).
export {};
