export { DEFAULT_MIN_LEASE_TTL, type Lease, LeaseTable, MAX_LEASE_TTL } from './table.js';
export { Lessor, type LessorOptions } from './lessor.js';
export { newLeaseId } from './ids.js';
