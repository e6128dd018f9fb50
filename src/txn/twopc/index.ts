// Filled in by the twopc implementation (issue 6).
export {};
